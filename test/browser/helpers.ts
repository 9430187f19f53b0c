/**
 * What the browser test files share: Debian's Chromium (never a downloaded browser),
 * a device (a browser context with its own storage) that records CSP violations and page
 * errors, and short steps a person takes in the web client (register, start a chat, send).
 * Every wait is bounded.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const SHOTS = resolve(import.meta.dirname, '../../test-results/screenshots');
/**
 * How long a browser test waits for what must happen. A wait ends as soon as it is met, so
 * this only bounds a failure: 15 s ran out four times in full runs, on three different
 * waits, each passing alone, while another heavy file shared the two cores. Tests that
 * bound a latency say so with their own, tighter limits.
 */
export const WAIT = { timeout: 30_000 };
/** The widths the issue names: a laptop and a phone. */
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export async function launchChromium(): Promise<Browser> {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export interface Device {
  context: BrowserContext;
  page: Page;
  problems: string[];
}

/** A fresh browser context (another device) that records CSP violations and page errors. */
export async function device(browser: Browser, baseURL: string, viewport: { width: number; height: number }): Promise<Device> {
  const context = await browser.newContext({ viewport, baseURL });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/.test(msg.text())) problems.push(`csp: ${msg.text()}`);
  });
  return { context, page, problems };
}

export interface Person {
  handle: string;
  name: string;
}

export async function register(page: Page, who: Person, deviceName: string, path = '/'): Promise<void> {
  await page.goto(path);
  await page.getByRole('tab', { name: 'Create account' }).click();
  await page.getByLabel('Handle').fill(who.handle);
  await page.getByLabel('Display name').fill(who.name);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByLabel('Device name').fill(deviceName);
  await page.getByRole('button', { name: 'Create account' }).last().click();
  await page.getByText(`@${who.handle}`).waitFor(WAIT);
}

/** Signs `who` in again on this device (the password `register` gave them), at `path` (a wire's `?transport=`). */
export async function signIn(page: Page, who: Person, deviceName: string, path = '/'): Promise<void> {
  await page.goto(path);
  await page.getByLabel('Handle').fill(who.handle);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByLabel('Device name').fill(deviceName);
  await page.getByRole('button', { name: 'Sign in' }).last().click();
  await page.getByText(`@${who.handle}`).waitFor(WAIT);
}

/** The list's row for a conversation (its button, named by title, presence and unread count). */
export function row(page: Page, title: string) {
  return page.locator('ul.conversations button', { hasText: title });
}

export async function startChat(page: Page, who: Person): Promise<void> {
  await page.getByLabel('Handle to chat with').fill(`@${who.handle}`);
  await page.getByRole('button', { name: 'Chat', exact: true }).click();
  await page.getByRole('heading', { name: who.name }).waitFor(WAIT);
}

export function composer(page: Page) {
  return page.getByLabel('Message', { exact: true });
}

export async function send(page: Page, text: string): Promise<void> {
  await composer(page).fill(text);
  await composer(page).press('Enter');
}

export function message(page: Page, text: string) {
  return page.locator('li.message', { hasText: text });
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/**
 * Elements whose box reaches past the viewport's right or left edge (visible ones only:
 * screen-reader-only text and closed menus are skipped), described for an assertion.
 */
export function overflowing(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const out: string[] = [];
    for (const el of document.querySelectorAll<HTMLElement>('body *')) {
      if (el.closest('.sr-only')) continue;
      // Not rendered: display none, hidden, or the content of a closed <details>.
      if (!el.checkVisibility({ visibilityProperty: true, contentVisibilityAuto: true })) continue;
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue;
      if (box.right > width + 0.5 || box.left < -0.5) {
        const name = `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''}`;
        out.push(`${name} [${Math.round(box.left)}, ${Math.round(box.right)}] > ${width}`);
      }
    }
    return out;
  });
}

/**
 * Boxes that must lie inside the viewport and do not: every open dialog, every open message
 * menu, each with its own content no wider than itself (a dialog whose rows are wider than
 * the dialog scrolls sideways or clips). Described for an assertion.
 */
export function boxesOutside(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const view = { width: document.documentElement.clientWidth, height: document.documentElement.clientHeight };
    const out: string[] = [];
    for (const el of document.querySelectorAll<HTMLElement>('dialog[open], details[open] > .menu')) {
      const box = el.getBoundingClientRect();
      const name = `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`;
      const round = (n: number) => Math.round(n);
      if (box.left < -0.5 || box.top < -0.5 || box.right > view.width + 0.5 || box.bottom > view.height + 0.5) {
        out.push(`${name} [${round(box.left)}, ${round(box.top)}, ${round(box.right)}, ${round(box.bottom)}] outside ${view.width}x${view.height}`);
      }
      if (el.scrollWidth > el.clientWidth + 1) out.push(`${name}: content ${el.scrollWidth} px wide in ${el.clientWidth} px`);
    }
    return out;
  });
}

/** Someone on the HTTP API (the other people in a story, who need no browser). */
export interface ApiUser {
  id: string;
  token: string;
  person: Person;
}

/** The few HTTP API calls the browser stories need to set a scene, against the server at `baseUrl`. */
export class Api {
  constructor(readonly baseUrl: string) {}

  async call<T>(path: string, init: { token?: string; body?: unknown; method?: string } = {}): Promise<T> {
    const method = init.method ?? (init.body === undefined ? 'GET' : 'POST');
    const res = await fetch(`${this.baseUrl}/v1${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(WAIT.timeout),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  async register(person: Person): Promise<ApiUser> {
    const session = await this.call<{ accessToken: string; user: { id: string } }>('/auth/register', {
      body: { handle: person.handle, displayName: person.name, password: 'correct horse battery', deviceName: 'api' },
    });
    return { id: session.user.id, token: session.accessToken, person };
  }

  async userId(handle: string, as: ApiUser): Promise<string> {
    return (await this.call<{ user: { id: string } }>(`/users/by-handle/${handle}`, { token: as.token })).user.id;
  }

  async direct(from: ApiUser, peerId: string): Promise<string> {
    return (await this.call<{ conversation: { id: string } }>('/conversations', { token: from.token, body: { kind: 'direct', peerId } })).conversation.id;
  }

  async group(from: ApiUser, title: string, memberIds: string[]): Promise<string> {
    return (await this.call<{ conversation: { id: string } }>('/conversations', { token: from.token, body: { kind: 'group', title, memberIds } })).conversation.id;
  }

  async send(from: ApiUser, conversationId: string, text: string, cmid = crypto.randomUUID().replaceAll('-', '')): Promise<number> {
    return (await this.call<{ seq: number }>(`/conversations/${conversationId}/messages`, { token: from.token, body: { cmid, content: { type: 'text', text } } })).seq;
  }

  /** `who` comes online: an inbox socket of their own, open until closed. */
  async online(who: ApiUser): Promise<WebSocket> {
    const { ticket } = await this.call<{ ticket: string }>('/auth/tickets', { token: who.token, body: {} });
    const socket = new WebSocket(`${this.baseUrl.replace('http', 'ws')}/v1/inbox/ws?ticket=${ticket}`);
    await new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve, { once: true });
      socket.addEventListener('error', reject, { once: true });
      setTimeout(() => reject(new Error(`${who.person.name}'s inbox socket did not open`)), WAIT.timeout);
    });
    return socket;
  }
}

/** One person per wire, each with a device: Wes on WebSocket (desktop), Sam on SSE (desktop), Pat on long polling (phone). */
export interface ThreeWires {
  w: Device;
  s: Device;
  p: Device;
  /** Who is on each device, to sign them in again. */
  people: { wes: Person; sam: Person; pat: Person };
}

/**
 * Registers the three people of the wire-pairing tests in their own devices and starts the
 * direct chats Wes–Sam and Wes–Pat, and Sam–Pat with `samWithPat`.
 */
export async function threeWires(browser: Browser, url: string, options: { samWithPat?: boolean } = {}): Promise<ThreeWires> {
  const run = crypto.randomUUID().slice(0, 6);
  const wes: Person = { handle: `wes_${run}`, name: 'Wes' };
  const sam: Person = { handle: `sam_${run}`, name: 'Sam' };
  const pat: Person = { handle: `pat_${run}`, name: 'Pat' };
  const [w, s, p] = await Promise.all([device(browser, url, DESKTOP), device(browser, url, DESKTOP), device(browser, url, PHONE)]);
  await register(w.page, wes, 'Wes laptop');
  await register(s.page, sam, 'Sam laptop', '/?transport=sse');
  await register(p.page, pat, 'Pat phone', '/?transport=long-poll');
  await startChat(w.page, sam);
  await row(s.page, 'Wes').waitFor(WAIT);
  await startChat(w.page, pat);
  await row(p.page, 'Wes').waitFor(WAIT);
  if (options.samWithPat) {
    await startChat(s.page, pat);
    await row(p.page, 'Sam').waitFor(WAIT);
  }
  return { w, s, p, people: { wes, sam, pat } };
}

/** Opens the chat titled `title` from wherever the page is (on a phone, back to the list first). */
export async function openChat(page: Page, title: string): Promise<void> {
  if (await page.getByRole('heading', { name: title }).isVisible()) return;
  const back = page.getByRole('button', { name: 'Back to conversations' });
  if (await back.isVisible()) await back.click();
  await row(page, title).click();
  await page.getByRole('heading', { name: title }).waitFor(WAIT);
}

/** Every value in an IndexedDB store of the page's origin ([] when the database or store does not exist yet). */
export function storedValues<T = unknown>(page: Page, database: string, store: string): Promise<T[]> {
  return page.evaluate(
    ([name, storeName]) =>
      new Promise<T[]>((resolve) => {
        const open = indexedDB.open(name!);
        open.onsuccess = () => {
          const db = open.result;
          if (!db.objectStoreNames.contains(storeName!)) return resolve([]);
          const all = db.transaction(storeName!).objectStore(storeName!).getAll();
          all.onsuccess = () => resolve(all.result as T[]);
          all.onerror = () => resolve([]);
        };
        open.onerror = () => resolve([]);
      }),
    [database, store],
  );
}
