/**
 * Typing and presence across every pairing of wires (issue 18, item 5), in Chromium
 * against `wrangler dev` on port 8851. Wes is on WebSocket, Sam on `?transport=sse`, Pat
 * on `?transport=long-poll`; Wes chats with Sam and with Pat. For each pairing, the one
 * watching sees the other typing, or, where the wire cannot carry it, the page says so
 * (the fallback wires carry no typing: docs/PROTOCOL.md, "A conversation's feed over
 * HTTP"); and each sees the other online in the chat header, and "last seen" once the
 * other leaves, within a few seconds.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWrangler, type Wrangler } from '../e2e/wrangler.js';
import { DESKTOP, PHONE, WAIT, composer, device, launchChromium, register, row, shot, startChat, type Device, type Person } from './helpers.js';

const PORT = 8851;
/** How soon a live signal must show on the other side (a fallback's presence is polled). */
const LIVE = { timeout: 8_000 };

let server: Wrangler;
let browser: Browser;
const run = crypto.randomUUID().slice(0, 6);
const wes: Person = { handle: `wes_${run}`, name: 'Wes' };
const sam: Person = { handle: `sam_${run}`, name: 'Sam' };
const pat: Person = { handle: `pat_${run}`, name: 'Pat' };
let w: Device;
let s: Device;
let p: Device;

beforeAll(async () => {
  server = await startWrangler(PORT);
  browser = await launchChromium();
  [w, s, p] = await Promise.all([device(browser, server.url, DESKTOP), device(browser, server.url, DESKTOP), device(browser, server.url, PHONE)]);
  await register(w.page, wes, 'Wes laptop');
  await register(s.page, sam, 'Sam laptop', '/?transport=sse');
  await register(p.page, pat, 'Pat phone', '/?transport=long-poll');
  await startChat(w.page, sam);
  await row(s.page, 'Wes').waitFor(WAIT);
  await startChat(w.page, pat);
  await row(p.page, 'Wes').waitFor(WAIT);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function open(page: Page, title: string): Promise<void> {
  if (await page.getByRole('heading', { name: title }).isVisible()) return;
  const back = page.getByRole('button', { name: 'Back to conversations' });
  if (await back.isVisible()) await back.click();
  await row(page, title).click();
  await page.getByRole('heading', { name: title }).waitFor(WAIT);
}

/** `typist` types in the chat with `watcher`; the watcher sees it, or one of the two pages says typing cannot be shown on its wire. */
async function typingShows(typist: Page, typistName: string, watcher: Page, watcherName: string): Promise<'shown' | 'explained'> {
  await open(typist, watcherName);
  await open(watcher, typistName);
  await typist.getByTestId('connection').getByText(/^Connected/).waitFor(WAIT);
  await watcher.getByTestId('connection').getByText(/^Connected/).waitFor(WAIT);
  await composer(typist).pressSequentially('typing here', { delay: 30 });
  const shown = watcher.getByTestId('typing').getByText(`${typistName} is typing…`);
  const explained = [typist, watcher].map((page) => page.getByTestId('typing-unavailable'));
  const outcome = await Promise.race([
    shown.waitFor(LIVE).then(() => 'shown' as const),
    ...explained.map((note) => note.waitFor(LIVE).then(() => 'explained' as const)),
  ]).catch(() => 'missing' as const);
  await composer(typist).fill('');
  expect(outcome, `${typistName} typing, seen by ${watcherName}`).not.toBe('missing');
  return outcome as 'shown' | 'explained';
}

describe('typing and presence on every pairing of wires', () => {
  it('typing: shown where the wires carry it, and said to be unavailable where they do not', async () => {
    const outcomes = {
      'WebSocket → SSE': await typingShows(w.page, 'Wes', s.page, 'Sam'),
      'SSE → WebSocket': await typingShows(s.page, 'Sam', w.page, 'Wes'),
      'WebSocket → long polling': await typingShows(w.page, 'Wes', p.page, 'Pat'),
      'long polling → WebSocket': await typingShows(p.page, 'Pat', w.page, 'Wes'),
    };
    console.log(`typing across wires: ${JSON.stringify(outcomes)}`);
    await shot(s.page, 'typing-unavailable-sse-desktop');
    await shot(p.page, 'typing-unavailable-long-poll-phone');
  });

  it('presence: each sees the other online in the chat header, and last seen once the other leaves', async () => {
    const pairs: [Device, string, Device, string][] = [
      [s, 'Sam', w, 'Wes'], // Sam (SSE) watches Wes (WebSocket)
      [w, 'Wes', s, 'Sam'],
      [p, 'Pat', w, 'Wes'],
      [w, 'Wes', p, 'Pat'],
    ];
    const seen: Record<string, string> = {};
    for (const [watcher, watcherName, subject, subjectName] of pairs) {
      await open(watcher.page, subjectName);
      const started = Date.now();
      await watcher.page.locator('[data-testid="chat-presence"][data-online="true"]', { hasText: 'online' }).waitFor(LIVE);
      seen[`${watcherName} sees ${subjectName} online`] = `${Date.now() - started} ms`;
      void subject;
    }
    // Wes leaves (signs out): Sam (SSE) and Pat (long polling) see him go.
    const left = Date.now();
    await w.page.getByRole('button', { name: 'Sign out' }).click();
    for (const [watcher, name] of [[s, 'Sam'], [p, 'Pat']] as const) {
      await open(watcher.page, 'Wes');
      await watcher.page.locator('[data-testid="chat-presence"][data-online="false"]', { hasText: /last seen/ }).waitFor(LIVE);
      seen[`${name} sees Wes leave`] = `${Date.now() - left} ms`;
    }
    console.log(`presence across wires: ${JSON.stringify(seen)}`);
    await shot(s.page, 'presence-sse-desktop');
    for (const d of [w, s, p]) expect(d.problems).toEqual([]);
  });
});
