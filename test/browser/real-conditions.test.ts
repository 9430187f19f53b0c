/**
 * The web client under real conditions (issue 18), in Debian's Chromium against a real
 * `wrangler dev` on port 8850: a chat opened while offline recovers when the network
 * returns; a send queued offline and reloaded shows once; at phone width nothing is wider
 * than the screen and every menu lies inside it; a burst of network drops is followed by
 * a reconnect within two seconds. The other people in these stories are driven over the
 * HTTP API, so only the person under test needs a browser.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { LANDSCAPE_PNG } from '../fixtures/images.js';
import { startProxy, type CutProxy } from '../e2e/proxy.js';
import { startWrangler, type Wrangler } from '../e2e/wrangler.js';
import { Api, DESKTOP, PHONE, WAIT, composer, device, launchChromium, message, overflowing, register, row, send, shot, signIn, storedValues, type ApiUser, type Device, type Person } from './helpers.js';

const PORT = 8850;

let server: Wrangler;
/** Between Alice's browser and the server, so the network can be cut under her. */
let proxy: CutProxy;
let browser: Browser;
const run = crypto.randomUUID().slice(0, 6);
const alice: Person = { handle: `alice_${run}`, name: 'Alice' };

function badge(page: Page) {
  return page.getByTestId('connection');
}

/** The other people in these stories, on the HTTP API. */
let api: Api;
let a: Device;
let bob: ApiUser;
let carol: ApiUser;
let withBob: string;
let withCarol: string;
let helloFromCarol: number;

beforeAll(async () => {
  server = await startWrangler(PORT);
  api = new Api(server.url);
  proxy = await startProxy(PORT);
  browser = await launchChromium();
  a = await device(browser, proxy.url, DESKTOP);
  await register(a.page, alice, 'Alice laptop');
  bob = await api.register({ handle: `bob_${run}`, name: 'Bob' });
  carol = await api.register({ handle: `carol_${run}`, name: 'Carol' });
  const aliceId = await api.userId(alice.handle, bob);
  withBob = await api.direct(bob, aliceId);
  withCarol = await api.direct(carol, aliceId);
  await api.send(bob, withBob, 'Hello from Bob');
  helloFromCarol = await api.send(carol, withCarol, 'Hello from Carol');
  await row(a.page, 'Carol').waitFor(WAIT);
  await row(a.page, 'Bob').waitFor(WAIT);
});

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await server?.stop();
});

/** Alice's laptop back online on a freshly loaded list, so each story starts clean. */
async function fresh(): Promise<{ page: Page; context: Device['context'] }> {
  await a.context.setOffline(false);
  await a.page.goto('/');
  await row(a.page, 'Bob').waitFor(WAIT);
  return a;
}

/** The messages this device kept of one chat (lib/message-cache.ts): seqs are per conversation, so never over every chat. */
async function keptMessages(page: Page, conversationId: string): Promise<{ seq: number }[]> {
  const chats = await storedValues<{ key: string; messages: { seq: number }[] }>(page, 'edge-chat', 'recent-messages');
  return chats.filter((chat) => chat.key.endsWith(`:${conversationId}`)).flatMap((chat) => chat.messages);
}

/**
 * Waits for `waiting`; when it fails, the error says what the page showed instead (its
 * text, and a screenshot `<name>-failed`), so a failure seen once in CI can be read.
 */
async function explained(page: Page, name: string, waiting: Promise<void>): Promise<void> {
  try {
    await waiting;
  } catch (err) {
    await shot(page, `${name}-failed`).catch(() => undefined);
    const shown = await page.locator('body').innerText().catch(() => '(no page)');
    throw new Error(`${(err as Error).message}\nThe page at ${page.url()} showed:\n${shown.slice(-1_500)}`);
  }
}

describe('the web client under real conditions', () => {
  it('a chat opened while offline shows what it knows, queues a send, and recovers within seconds of the network returning', async () => {
    const { page, context } = await fresh();
    await row(page, 'Bob').click();
    await message(page, 'Hello from Bob').waitFor(WAIT);
    await badge(page).getByText('Connected via WebSocket').waitFor(WAIT);

    await context.setOffline(true);
    await badge(page).getByText(/Offline/).waitFor(WAIT);
    await row(page, 'Carol').click();
    // The title comes from the list; no raw request error; the composer takes a message.
    await page.getByRole('heading', { name: 'Carol' }).waitFor(WAIT);
    await expect.poll(() => composer(page).isEnabled(), WAIT).toBe(true);
    expect(await page.getByRole('alert').allTextContents()).toEqual([]);
    await send(page, 'Written while offline');
    await badge(page).getByText('1 queued').waitFor(WAIT);
    await shot(page, 'offline-open-desktop');

    await context.setOffline(false);
    const back = Date.now();
    await message(page, 'Hello from Carol').waitFor({ timeout: 5_000 });
    await badge(page).getByText('Connected via WebSocket').waitFor({ timeout: 5_000 });
    await page.locator('li.message:not(.pending)', { hasText: 'Written while offline' }).waitFor({ timeout: 5_000 });
    const recovered = Date.now() - back;
    expect(await composer(page).isEnabled()).toBe(true);
    expect(await page.getByRole('alert').allTextContents()).toEqual([]);
    console.log(`offline-opened chat recovered ${recovered} ms after the network returned`);
    expect(recovered).toBeLessThan(5_000);
  });

  it('going offline while a chat\'s history loads: it loads once the network returns', async () => {
    const { page, context } = await fresh();
    await row(page, 'Bob').click();
    await message(page, 'Hello from Bob').waitFor(WAIT);
    // Leave, then come back with the history request failing as the network goes.
    await row(page, 'Carol').click();
    await message(page, 'Hello from Carol').waitFor(WAIT);
    let failed = 0;
    await page.route('**/v1/conversations/*/events?*', async (route) => {
      if (failed > 0) return route.continue();
      failed++;
      await context.setOffline(true);
      await route.abort('internetdisconnected');
    });
    await row(page, 'Bob').click();
    await expect.poll(() => failed, WAIT).toBe(1);
    await page.getByRole('heading', { name: 'Bob' }).waitFor(WAIT);
    await context.setOffline(false);
    const back = Date.now();
    await message(page, 'Hello from Bob').waitFor({ timeout: 5_000 });
    await badge(page).getByText('Connected via WebSocket').waitFor({ timeout: 5_000 });
    expect(await composer(page).isEnabled()).toBe(true);
    console.log(`chat whose history failed to load recovered ${Date.now() - back} ms after the network returned`);
    await page.unroute('**/v1/conversations/*/events?*');
  });

  it('a send queued offline and reloaded as it goes out shows once, with its status', async () => {
    const { page, context } = await fresh();
    await row(page, 'Bob').click();
    await message(page, 'Hello from Bob').waitFor(WAIT);
    await context.setOffline(true);
    await badge(page).getByText(/Offline/).waitFor(WAIT);
    await send(page, 'Queued, then reloaded');
    await badge(page).getByText('1 queued').waitFor(WAIT);
    // The race the issue saw, made certain: the server stored the send (its ack never
    // reached the page) while the page's outbox still holds it, and the page reloads.
    const cmid = (await storedValues<{ cmid: string }>(page, 'edge-chat-outbox', 'outbox')).at(-1)!.cmid;
    const aliceSession = JSON.parse((await page.evaluate(() => localStorage.getItem('edge-chat.session')))!) as { accessToken: string; user: { id: string } };
    await api.send({ id: aliceSession.user.id, token: aliceSession.accessToken, person: alice }, withBob, 'Queued, then reloaded', cmid);
    await context.setOffline(false);
    await page.reload();
    await message(page, 'Queued, then reloaded').first().waitFor(WAIT);
    await badge(page).getByText('Connected via WebSocket').waitFor(WAIT);
    // The outbox's resend is answered as a duplicate; give it time to settle, then count.
    await expect.poll(() => message(page, 'Queued, then reloaded').count(), { timeout: 5_000 }).toBe(1);
    await page.waitForTimeout(1_500); // a quiet period: a stale "Sending…" copy would show by now
    expect(await message(page, 'Queued, then reloaded').count()).toBe(1);
    expect(await message(page, 'Queued, then reloaded').locator('.status').getAttribute('data-status')).toMatch(/^(sent|delivered|read)$/);
    expect(await page.locator('li.message.pending').count()).toBe(0);
  });

  it('at 390x844 nothing is wider than the screen, and every message menu lies inside it', async () => {
    const p = await device(browser, server.url, PHONE);
    await signIn(p.page, alice, 'Alice phone');
    await api.send(carol, withCarol, 'A rather long last message, the kind that runs on: https://example.com/a/very/long/path/without/any/spaces/at/all/to/break/it/up');
    await row(p.page, 'Carol').locator('.preview', { hasText: 'A rather long' }).waitFor(WAIT);
    expect(await overflowing(p.page)).toEqual([]);
    expect(await p.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
    for (const name of ['Sign out', 'New group']) {
      const box = (await p.page.getByRole('button', { name }).boundingBox())!;
      expect(box.x + box.width, name).toBeLessThanOrEqual(PHONE.width);
    }
    await shot(p.page, 'list-long-preview-phone');

    await row(p.page, 'Carol').click();
    await send(p.page, 'Mine, with a menu');
    const mine = p.page.locator('li.message.mine:not(.pending)', { hasText: 'Mine, with a menu' });
    await mine.waitFor(WAIT);
    expect(await overflowing(p.page)).toEqual([]);
    for (const bubble of [mine, message(p.page, 'A rather long last message')]) {
      await bubble.locator('summary').click();
      const menu = bubble.locator('.menu');
      await menu.waitFor(WAIT);
      const box = (await menu.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(PHONE.width);
      expect(box.y).toBeGreaterThanOrEqual(0);
      expect(box.y + box.height).toBeLessThanOrEqual(PHONE.height);
      expect(await overflowing(p.page)).toEqual([]);
      await shot(p.page, bubble === mine ? 'menu-mine-phone' : 'menu-theirs-phone');
      await bubble.locator('summary').click();
    }
    // Search and its results, and a staged image with its caption field, fit too.
    await p.page.getByRole('button', { name: 'Search' }).click();
    await p.page.getByLabel('Search messages').fill('rather');
    await p.page.getByRole('button', { name: 'Find' }).click();
    await p.page.getByRole('button', { name: /A rather long last message/ }).waitFor(WAIT);
    expect(await overflowing(p.page)).toEqual([]);
    await shot(p.page, 'search-phone');
    await p.page.getByRole('button', { name: 'Close' }).click();
    await p.page.locator('input[type=file]').setInputFiles({ name: 'a-photo-with-a-rather-long-file-name.png', mimeType: 'image/png', buffer: Buffer.from(LANDSCAPE_PNG) });
    await p.page.getByRole('group', { name: 'Attachment to send' }).waitFor(WAIT);
    expect(await overflowing(p.page)).toEqual([]);
    await shot(p.page, 'image-staged-phone');
    await p.page.getByRole('button', { name: 'Remove attachment' }).click();
    expect(p.problems).toEqual([]);
    await p.context.close();
  });

  /**
   * Five drops within two seconds, as a phone on a flaky network sees them: every open
   * connection is reset and new ones are refused for 350 ms, five times, 400 ms apart;
   * `networkSignal` says whether the browser also knew (offline, then `online`) or only
   * the connections died (a server or proxy restarting). Resolves with how long after the
   * last drop the chat said "Connected via WebSocket" again, and what the badge said meanwhile.
   */
  async function burst(page: Page, context: Device['context'], networkSignal: boolean): Promise<{ ms: number; texts: string[] }> {
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { badgeTexts: string[] }).badgeTexts = seen;
      const target = document.querySelector('[data-testid="connection"]')!;
      new MutationObserver(() => {
        const text = target.textContent ?? '';
        if (seen.at(-1) !== text) seen.push(text);
      }).observe(target, { subtree: true, childList: true, characterData: true });
    });
    for (let i = 0; i < 5; i++) {
      if (networkSignal) await context.setOffline(true);
      proxy.cut(350);
      await page.waitForTimeout(350);
      if (networkSignal) await context.setOffline(false);
      await page.waitForTimeout(50);
    }
    const back = Date.now();
    await badge(page)
      .getByText('Connected via WebSocket')
      .waitFor({ timeout: 30_000 })
      .catch(async (error: unknown) => {
        const texts = await page.evaluate(() => (window as unknown as { badgeTexts: string[] }).badgeTexts);
        throw new Error(`not back on WebSocket; the badge said: ${texts.join(' | ')}`, { cause: error });
      });
    const ms = Date.now() - back;
    const texts = await page.evaluate(() => (window as unknown as { badgeTexts: string[] }).badgeTexts);
    return { ms, texts };
  }

  it('a burst of five network drops within two seconds, then the network back: reconnected within 2 s', async () => {
    // A device of its own, so the stories above (their reloads and requests) leave this one fresh.
    const t = await device(browser, proxy.url, DESKTOP);
    const { page, context } = t;
    await signIn(page, alice, 'Alice tablet');
    await row(page, 'Bob').click();
    await message(page, 'Hello from Bob').waitFor(WAIT);
    await badge(page).getByText('Connected via WebSocket').waitFor(WAIT);
    // Three bursts of each kind; each after a stable connection, each followed by a send that works.
    // (Sockets authenticate with the bearer subprotocol, so reconnects spend no connect
    // tickets; whatever the service refused meanwhile is counted, to explain a slow round.)
    const figures: Record<string, number[]> = { 'network drops the browser saw': [], 'connection drops only (no browser signal)': [] };
    const refused: string[] = [];
    page.on('response', (r) => void (r.status() === 429 && refused.push(new URL(r.url()).pathname)));
    for (let round = 0; round < 3; round++) {
      for (const [name, networkSignal] of [['network drops the browser saw', true], ['connection drops only (no browser signal)', false]] as const) {
        await page.waitForTimeout(2_200);
        const { ms, texts } = await burst(page, context, networkSignal);
        console.log(`${name}: reconnected ${ms} ms after the burst; the badge said: ${texts.join(' | ')}`);
        expect(texts.some((t) => /reconnecting/.test(t))).toBe(true);
        figures[name]!.push(ms);
        await send(page, `After burst ${round} ${networkSignal}`);
        await page.locator('li.message:not(.pending)', { hasText: `After burst ${round} ${networkSignal}` }).waitFor(WAIT);
      }
    }
    console.log(`reconnect after a burst of five drops (ms): ${JSON.stringify(figures)}; refused meanwhile: ${refused.join(', ') || 'nothing'}`);
    for (const times of Object.values(figures)) {
      expect(times).toHaveLength(3);
      expect(Math.max(...times)).toBeLessThan(2_000);
    }
    expect(t.problems).toEqual([]);
    await t.context.close();
  });
});


describe('smaller things a user notices (item 8)', () => {
  it('my own @handle shows whole on the desktop', async () => {
    const { page } = await fresh();
    const cut = await page.getByText(`@${alice.handle}`).evaluate((el) => {
      for (let node: HTMLElement | null = el as HTMLElement; node && node !== document.body; node = node.parentElement) {
        const style = getComputedStyle(node);
        if (style.overflow !== 'visible' && node.scrollWidth > node.clientWidth + 1) return `${node.className}: ${node.scrollWidth} > ${node.clientWidth}`;
      }
      return null;
    });
    expect(cut).toBeNull();
  });

  it('the chat header says "online" once: the peer\'s, not my own connection too', async () => {
    // Someone new: presence queries are limited per user (20 a minute on a new account),
    // and Alice's laptop has reloaded many times in the stories above.
    const d = await device(browser, server.url, DESKTOP);
    const { page } = d;
    const dora: Person = { handle: `dora_${run}`, name: 'Dora' };
    await register(page, dora, 'Dora laptop');
    await api.direct(bob, await api.userId(dora.handle, bob));
    await row(page, 'Bob').waitFor(WAIT);
    // Bob comes online: an inbox socket of his own.
    const { ticket } = await api.call<{ ticket: string }>('/auth/tickets', { token: bob.token, body: {} });
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/inbox/ws?ticket=${ticket}`);
    await new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve, { once: true });
      socket.addEventListener('error', reject, { once: true });
      setTimeout(() => reject(new Error('Bob\'s inbox socket did not open')), 10_000);
    });
    const refused: string[] = [];
    page.on('response', (r) => void (r.status() === 429 && refused.push(new URL(r.url()).pathname)));
    try {
      await row(page, 'Bob').click();
      await page
        .locator('[data-testid="chat-presence"][data-online="true"]')
        .waitFor(WAIT)
        .catch((error: unknown) => {
          throw new Error(`Bob not shown online; refused meanwhile: ${refused.join(', ') || 'nothing'}`, { cause: error });
        });
      await badge(page).getByText(/WebSocket/).waitFor(WAIT);
      const header = await page.locator('.chat-header').innerText();
      expect(header.match(/\bonline\b/gi)?.length ?? 0, header).toBe(1);
      await shot(page, 'chat-header-desktop');
    } finally {
      socket.close();
      await d.context.close();
    }
  });

  it('"Delete for everyone" asks first', async () => {
    const { page } = await fresh();
    await row(page, 'Bob').click();
    await send(page, 'Maybe delete this');
    const bubble = page.locator('li.message:not(.pending)', { hasText: 'Maybe delete this' });
    await bubble.waitFor(WAIT);
    await bubble.locator('summary').click();
    await page.getByRole('button', { name: 'Delete for everyone' }).click();
    const confirm = page.getByRole('button', { name: 'Yes, delete for everyone' });
    await confirm.waitFor(WAIT);
    expect(await bubble.locator('.text', { hasText: 'Maybe delete this' }).count()).toBe(1);
    await shot(page, 'delete-confirm-desktop');
    await confirm.click();
    await message(page, 'This message was deleted.').waitFor(WAIT);
  });

  it('the list preview follows an edit and a delete of the last message', async () => {
    const { page } = await fresh();
    await row(page, 'Carol').click();
    await send(page, 'Preview before edit');
    const preview = row(page, 'Carol').locator('.preview');
    await preview.getByText('Preview before edit').waitFor(WAIT);
    const bubble = page.locator('li.message:not(.pending)', { hasText: 'Preview before edit' });
    await bubble.locator('summary').click();
    await bubble.getByRole('button', { name: 'Edit', exact: true }).click();
    await composer(page).fill('Preview after edit');
    await page.getByRole('button', { name: 'Save' }).click();
    await explained(page, 'preview-after-edit', preview.getByText('Preview after edit').waitFor(WAIT));
    await page.locator('li.message:not(.pending)', { hasText: 'Preview after edit' }).locator('summary').click();
    await page.getByRole('button', { name: 'Delete for everyone' }).click();
    await page.getByRole('button', { name: 'Yes, delete for everyone' }).click();
    await preview.getByText(/deleted/i).waitFor(WAIT);
    // A fresh read of the list agrees (a reload, or another device): the service marks the preview deleted.
    await page.reload();
    await row(page, 'Carol').waitFor(WAIT);
    await expect.poll(() => preview.textContent(), { timeout: WAIT.timeout }).toMatch(/deleted/i);
    expect(await preview.textContent()).not.toMatch(/Preview (before|after) edit|Direct chat/);
    await shot(page, 'preview-deleted-after-reload-desktop');
  });

  it('a list read answered before a group arrived does not hide the group when its answer comes late', async () => {
    const { page } = await fresh();
    // The first read after the reload is answered by the server at once and handed to the
    // page only once the group has shown up by other means (the device stream, a later read).
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    let handedOver!: () => void;
    const late = new Promise<void>((resolve) => (handedOver = resolve));
    await page.route(/\/v1\/conversations(\?|$)/, async (route) => {
      if (route.request().method() !== 'GET' || held) return route.continue();
      held = true;
      const answer = await route.fetch();
      await released;
      await route.fulfill({ response: answer });
      handedOver();
    });
    await page.reload();
    await expect.poll(() => held, { timeout: WAIT.timeout }).toBe(true);
    const aliceId = await api.userId(alice.handle, bob);
    await api.group(bob, 'Arrived meanwhile', [aliceId]);
    await row(page, 'Arrived meanwhile').waitFor(WAIT);
    release();
    await late;
    // Whatever the page does with the late answer, it has done within a few frames.
    await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 200)));
    expect(await row(page, 'Arrived meanwhile').count()).toBe(1);
    await page.unroute(/\/v1\/conversations(\?|$)/);
  });

  it('opening a chat with unread messages shows "N new messages" before the first and starts there; days are separated', async () => {
    const { page } = await fresh();
    await row(page, 'Bob').click();
    await message(page, 'Hello from Bob').waitFor(WAIT);
    // Everything there is read now; leave the chat, and Bob writes more than a screenful
    // (in few messages: his account is new, and its per-conversation limit is low).
    await page.goto('/');
    await row(page, 'Bob').waitFor(WAIT);
    const long = 'A line of text long enough to wrap in the bubble, so that a few of them fill the screen. '.repeat(3);
    for (let i = 1; i <= 8; i++) await api.send(bob, withBob, `Unread number ${i}. ${long}`);
    await row(page, 'Bob').getByLabel('8 unread').waitFor(WAIT);
    await row(page, 'Bob').click();
    const divider = page.locator('[data-mark="unread"]');
    await divider.waitFor(WAIT);
    expect(await divider.textContent()).toBe('8 new messages');
    const list = page.getByRole('list', { name: /Messages with/ });
    const [listBox, dividerBox, firstUnread, newest] = await Promise.all([
      list.boundingBox(),
      divider.boundingBox(),
      message(page, 'Unread number 1').boundingBox(),
      message(page, 'Unread number 8').boundingBox(),
    ]);
    // The divider and the first unread message are in view; the newest is below, out of it.
    expect(dividerBox!.y).toBeGreaterThanOrEqual(listBox!.y - 1);
    expect(firstUnread!.y + firstUnread!.height).toBeLessThanOrEqual(listBox!.y + listBox!.height);
    expect(newest!.y).toBeGreaterThan(listBox!.y + listBox!.height);
    // The divider sits right before the first unread message.
    expect(await page.locator('[data-mark="unread"] + li.message').textContent()).toContain('Unread number 1');
    expect(await page.locator('[data-mark="day"]').first().textContent()).toBe('Today');
    await shot(page, 'unread-divider-desktop');
  });

  it('search finds a message and shows it in the chat, reading back the older pages it is on', async () => {
    const { page } = await fresh();
    // Two senders of their own: new accounts may send only so many messages a minute.
    const [dan, erin] = [await api.register({ handle: `dan_${run}`, name: 'Dan' }), await api.register({ handle: `erin_${run}`, name: 'Erin' })];
    const aliceId = await api.userId(alice.handle, dan);
    const haystack = await api.group(dan, 'Haystack', [aliceId, erin.id]);
    // Alice has the chat open as it all arrives, so she has read it.
    await row(page, 'Haystack').click();
    await page.getByRole('heading', { name: 'Haystack' }).waitFor(WAIT);
    await api.send(dan, haystack, 'The needle is under the blue cushion');
    // More than a page (30) after it, so the chat opens again without it.
    for (let i = 1; i <= 16; i++) {
      await api.send(dan, haystack, `Hay from Dan ${i}`);
      await api.send(erin, haystack, `Hay from Erin ${i}`);
    }
    await message(page, 'Hay from Erin 16').waitFor(WAIT);
    await row(page, 'Bob').click();
    await row(page, 'Haystack').click();
    await message(page, 'Hay from Erin 16').waitFor(WAIT);
    // The messages kept on the device show first (the needle among them); the service's newest page replaces them.
    await expect.poll(() => page.getByTestId('history-status').count(), WAIT).toBe(0);
    // Read here: the chat opens at the bottom, with no divider and no older page read.
    expect(await page.locator('[data-mark="unread"]').count()).toBe(0);
    expect(await message(page, 'blue cushion').count()).toBe(0);

    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByLabel('Search messages').fill('velvet');
    await page.getByRole('button', { name: 'Find' }).click();
    await page.getByText('No messages match.').waitFor(WAIT);
    await page.getByLabel('Search messages').fill('cushion');
    await page.getByRole('button', { name: 'Find' }).click();
    await page.getByRole('button', { name: /blue cushion/ }).click();
    const found = page.locator('li.message.found', { hasText: 'blue cushion' });
    await found.waitFor(WAIT);
    const [list, hit] = await Promise.all([page.getByRole('list', { name: /Messages with/ }).boundingBox(), found.boundingBox()]);
    expect(hit!.y).toBeGreaterThanOrEqual(list!.y);
    expect(hit!.y + hit!.height).toBeLessThanOrEqual(list!.y + list!.height);
    await shot(page, 'search-desktop');
  });

  it('the Members dialog lists the owner first, in aligned columns', async () => {
    const { page } = await fresh();
    const aliceId = await api.userId(alice.handle, bob);
    await api.group(bob, 'Owners first', [aliceId, carol.id]);
    await row(page, 'Owners first').click();
    await page.getByRole('button', { name: /Members/ }).click();
    const dialog = page.getByRole('dialog', { name: /members/ });
    await dialog.getByText('Carol').waitFor(WAIT);
    const rows = await dialog.locator('ul.members li').evaluateAll((lis) =>
      lis.map((li) => {
        const [name, role] = [...li.children] as HTMLElement[];
        return { name: name!.textContent, role: role!.textContent, roleLeft: Math.round(role!.getBoundingClientRect().left) };
      }),
    );
    expect(rows[0]).toMatchObject({ name: 'Bob', role: 'owner' });
    expect(new Set(rows.map((r) => r.roleLeft)).size).toBe(1);
    await shot(page, 'members-desktop');
    await page.keyboard.press('Escape');
  });

  it('reloading while offline opens the app, with the last list, not the browser\'s offline page', async () => {
    // A device of its own: connect tickets are limited per device, and the laptop spent many.
    const d = await device(browser, server.url, DESKTOP);
    const { page, context } = d;
    await signIn(page, alice, 'Alice desktop');
    await row(page, 'Bob').waitFor(WAIT);
    // The service worker keeps the shell once it controls the page.
    await expect.poll(() => page.evaluate(() => navigator.serviceWorker?.controller !== null), WAIT).toBe(true);
    await context.setOffline(true);
    await page.reload();
    await page.getByText(`@${alice.handle}`).waitFor(WAIT);
    // Titles are names: those are kept too (a preview alone would say 'Hello from Bob').
    await row(page, 'Bob').locator('.conversation-title', { hasText: 'Bob' }).waitFor(WAIT);
    await row(page, 'Carol').locator('.conversation-title', { hasText: 'Carol' }).waitFor(WAIT);
    await page.getByText('Offline: showing the last list.').waitFor(WAIT);
    await shot(page, 'offline-reload-desktop');
    await row(page, 'Bob').click();
    await page.getByRole('heading', { name: 'Bob' }).waitFor(WAIT);
    await badge(page).getByText(/Offline/).waitFor(WAIT);
    await context.setOffline(false);
    await message(page, 'Hello from Bob').waitFor(WAIT);
    expect(d.problems).toEqual([]);
    await d.context.close();
  });

  it('an open message menu stays by its button while the list scrolls by itself, and closes once the button scrolls out of view', async () => {
    const dave = await api.register({ handle: `dave_${run}`, name: 'Dave' });
    const withDave = await api.direct(dave, await api.userId(alice.handle, dave));
    // A new account may send 20 a minute: a dozen long ones overflow the list.
    const long = ' and so on'.repeat(50);
    for (let i = 1; i <= 12; i++) await api.send(dave, withDave, `Dave says ${i}${long}`);
    const { page } = await fresh();
    await row(page, 'Dave').click();
    const last = message(page, 'Dave says 12');
    await last.waitFor(WAIT);
    await last.locator('summary').click();
    const menu = last.locator('.menu');
    await menu.waitFor(WAIT);
    // A new message grows the list; pinned to the newest, it scrolls: the menu goes along.
    await api.send(dave, withDave, `Dave says 13, while the menu is open${long}`);
    await message(page, 'Dave says 13').waitFor(WAIT);
    await expect.poll(async () => {
      const [button, box] = [await last.locator('summary').boundingBox(), await menu.boundingBox()];
      return button && box ? Math.min(Math.abs(box.y - (button.y + button.height)), Math.abs(box.y + box.height - button.y)) : -1;
    }, WAIT).toBeLessThanOrEqual(8);
    expect(await last.locator('details').evaluate((d) => (d as HTMLDetailsElement).open)).toBe(true);
    await page.locator('ol.messages').evaluate((list) => list.scrollTo({ top: 0 }));
    await expect.poll(() => last.locator('details').evaluate((d) => (d as HTMLDetailsElement).open), WAIT).toBe(false);
  });

  it('an edit made offline is shown at once, survives a reload, and is saved once back online', async () => {
    const { page, context } = await fresh();
    await row(page, 'Bob').click();
    await send(page, 'Offline edits are hard to get rigth');
    const sent = page.locator('li.message:not(.pending)', { hasText: 'Offline edits are hard' });
    await sent.waitFor(WAIT);
    const seq = Number(await sent.getAttribute('data-seq'));
    // The reload below is offline: the service worker must be serving the app by then, and
    // the device must have kept the message (a reload within moments of a send may not find it).
    await expect.poll(() => page.evaluate(() => navigator.serviceWorker?.controller !== null), WAIT).toBe(true);
    await expect.poll(async () => (await keptMessages(page, withBob)).some((m) => m.seq === seq), WAIT).toBe(true);
    await context.setOffline(true);
    await badge(page).getByText(/Offline/).waitFor(WAIT);
    await sent.locator('summary').click();
    await sent.getByRole('button', { name: 'Edit', exact: true }).click();
    await composer(page).fill('Offline edits are hard to get right');
    await page.getByRole('button', { name: 'Save' }).click();
    await sent.getByText('(edit not saved yet)').waitFor(WAIT);
    expect(await sent.textContent()).toContain('hard to get right');

    await page.reload();
    await explained(page, 'offline-edit-after-reload', sent.getByText('(edit not saved yet)').waitFor(WAIT));
    await context.setOffline(false);
    await expect.poll(() => sent.getByText('(edit not saved yet)').count(), WAIT).toBe(0);
    expect(await sent.textContent()).toContain('hard to get right');
    // Saved by the service, once: Bob's history has one edit of it.
    const history = await api.call<{ events: { type: string; targetSeq?: number; content?: { text?: string } }[] }>(`/conversations/${withBob}/events?after=${seq - 1}&limit=50`, { token: bob.token });
    const edits = history.events.filter((e) => e.type === 'message_edited' && e.targetSeq === seq);
    expect(edits.map((e) => e.content?.text)).toEqual(['Offline edits are hard to get right']);
  });

  it('a reply made offline is queued with its quote, survives a reload and goes once; reactions and deletes say they need a connection', async () => {
    const { page, context } = await fresh();
    await row(page, 'Bob').click();
    const first = page.locator('li.message:not(.pending)', { hasText: 'Hello from Bob' }).first();
    await first.waitFor(WAIT);
    await badge(page).getByText('Connected via WebSocket').waitFor(WAIT);
    const helloSeq = Number(await first.getAttribute('data-seq'));
    // By seq: the reply quotes its text too.
    const hello = page.locator(`li.message[data-seq="${helloSeq}"]`);
    await context.setOffline(true);
    await badge(page).getByText(/Offline/).waitFor(WAIT);

    // Opened again if it shut: the list may scroll by itself as the page settles offline,
    // and an open menu whose button leaves the list's view closes (followMenus). Counted, so
    // a run where that happens says so.
    let opened = 0;
    const note = hello.getByRole('note').getByText(/reactions and deleting wait for a connection/i);
    await explained(
      page,
      'menu-offline',
      expect
        .poll(async () => {
          if ((await hello.locator('details[open]').count()) === 0) {
            opened++;
            await hello.locator('summary').click();
          }
          return note.isVisible();
        }, WAIT)
        .toBe(true),
    );
    if (opened > 1) console.log(`the offline menu was opened ${opened} times: it shut by itself in between`);
    // By attribute, not by role: the check holds even if the list scrolled the menu shut meanwhile (followMenus).
    for (const button of ['button[aria-label="React 👍"]', 'button:text-is("Delete for me")']) expect(await hello.locator(button).isDisabled(), button).toBe(true);
    await shot(page, 'menu-offline-desktop');
    if ((await hello.locator('details[open]').count()) === 0) await hello.locator('summary').click();
    await hello.getByRole('button', { name: 'Reply', exact: true }).click();
    await send(page, 'Replied while offline');
    const pending = page.locator('li.message.pending', { hasText: 'Replied while offline' });
    await pending.locator('.quote', { hasText: 'Hello from Bob' }).waitFor(WAIT);
    await badge(page).getByText('1 queued').waitFor(WAIT);
    await shot(page, 'reply-queued-desktop');
    // What the reload below reads back: the queued reply, and the message it quotes.
    await expect.poll(async () => (await storedValues<{ content?: { text?: string } }>(page, 'edge-chat-outbox', 'outbox')).some((e) => e.content?.text === 'Replied while offline'), WAIT).toBe(true);
    await expect.poll(async () => (await keptMessages(page, withBob)).some((m) => m.seq === helloSeq), WAIT).toBe(true);

    await page.reload();
    await explained(page, 'offline-reply-after-reload', pending.locator('.quote', { hasText: 'Hello from Bob' }).waitFor(WAIT));
    await context.setOffline(false);
    const sent = page.locator('li.message:not(.pending)', { hasText: 'Replied while offline' });
    await sent.locator('.quote', { hasText: 'Hello from Bob' }).waitFor(WAIT);
    await expect.poll(() => page.locator('li.message.pending').count(), WAIT).toBe(0);
    // The service has it once, as a reply to Bob's message.
    const history = await api.call<{ events: { type: string; content?: { text?: string }; replyTo?: { seq: number } }[] }>(`/conversations/${withBob}/events?after=${helloSeq}&limit=100`, { token: bob.token });
    const replies = history.events.filter((e) => e.type === 'message' && e.content?.text === 'Replied while offline');
    expect(replies.map((e) => e.replyTo?.seq)).toEqual([helloSeq]);
    // Online again, the menu offers them (opened again if the list scrolled it shut meanwhile).
    await expect.poll(async () => {
      if ((await hello.locator('details[open]').count()) === 0) await hello.locator('summary').click();
      return hello.locator('button[aria-label="React 👍"]').isDisabled({ timeout: 2_000 });
    }, WAIT).toBe(false);
    expect(await hello.locator('.menu-note').count()).toBe(0);
    if ((await hello.locator('details[open]').count()) > 0) await hello.locator('summary').click();
  });

  it('a chat read before reads offline after a reload, from what the device kept; back online it is the service\'s again; sign-out deletes it', async () => {
    const d = await device(browser, server.url, DESKTOP);
    const { page, context } = d;
    await signIn(page, alice, 'Alice tablet');
    await row(page, 'Carol').click();
    await message(page, 'Hello from Carol').waitFor(WAIT);
    await expect.poll(() => page.evaluate(() => navigator.serviceWorker?.controller !== null), WAIT).toBe(true);
    const kept = async () => (await storedValues(page, 'edge-chat', 'recent-messages')).length;
    await expect.poll(kept, WAIT).toBe(1);

    await context.setOffline(true);
    await page.reload();
    await message(page, 'Hello from Carol').waitFor(WAIT);
    await page.getByTestId('history-status').getByText(/kept on this device/).waitFor(WAIT);
    await shot(page, 'offline-kept-chat-desktop');
    // Meanwhile Carol edits her message: back online, the chat shows the service's version, once.
    await api.call(`/conversations/${withCarol}/messages/${helloFromCarol}`, { token: carol.token, method: 'PATCH', body: { content: { type: 'text', text: 'Hello from Carol (edited)' } } });
    await context.setOffline(false);
    await message(page, 'Hello from Carol (edited)').waitFor(WAIT);
    expect(await message(page, 'Hello from Carol').count()).toBe(1);
    await expect.poll(() => page.getByTestId('history-status').count(), WAIT).toBe(0);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(kept, WAIT).toBe(0);
    expect(d.problems).toEqual([]);
    await d.context.close();
  });
});
