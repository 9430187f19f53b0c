/**
 * Typing across every pairing of wires (issue 18, item 5), in Chromium against
 * `wrangler dev` on port 8960. Wes is on WebSocket, Sam on `?transport=sse`, Pat on
 * `?transport=long-poll`, and each pair has a chat. In each direction of each pair the one
 * watching sees "… is typing…" while the other types, and sees it go when the other clears
 * the box: a fallback typer posts its typing, a fallback watcher reads it from the
 * conversation's feed (docs/PROTOCOL.md, "A conversation's feed over HTTP").
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWrangler, type Wrangler } from '../e2e/wrangler.js';
import { WAIT, composer, launchChromium, shot, openChat, threeWires, type Device } from './helpers.js';

const PORT = 8960;
/** How soon typing must show on the other side, and go once the box is cleared. */
const LIVE = { timeout: 5_000 };

let server: Wrangler;
let browser: Browser;
let w: Device;
let s: Device;
let p: Device;

beforeAll(async () => {
  server = await startWrangler(PORT);
  browser = await launchChromium();
  ({ w, s, p } = await threeWires(browser, server.url, { samWithPat: true }));
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** Opens the chat titled `title` and waits until it is connected. */
async function open(page: Page, title: string): Promise<void> {
  await openChat(page, title);
  await page.getByTestId('connection').getByText(/^Connected/).waitFor(WAIT);
}

/** `typist` types in the chat with `watcher`, then clears the box; how long until the watcher saw each. */
async function typingSeen(typist: Page, typistName: string, watcher: Page, watcherName: string): Promise<{ shown: number; gone: number }> {
  await open(typist, watcherName);
  await open(watcher, typistName);
  const indicator = watcher.getByTestId('typing');
  expect(await indicator.textContent()).toBe('');
  const started = Date.now();
  await composer(typist).pressSequentially('typing here', { delay: 30 });
  await indicator.getByText(`${typistName} is typing…`).waitFor(LIVE);
  const shown = Date.now() - started;
  const cleared = Date.now();
  await composer(typist).fill('');
  // Well before the 5 s a start lasts by itself: this is the stop arriving.
  await expect.poll(() => indicator.textContent(), { timeout: 3_000 }).toBe('');
  return { shown, gone: Date.now() - cleared };
}

describe('typing on every pairing of wires', () => {
  it('shows who is typing, and when they stop, whichever wire each side is on', async () => {
    const seen = {
      'WebSocket → SSE': await typingSeen(w.page, 'Wes', s.page, 'Sam'),
      'SSE → WebSocket': await typingSeen(s.page, 'Sam', w.page, 'Wes'),
      'WebSocket → long polling': await typingSeen(w.page, 'Wes', p.page, 'Pat'),
      'long polling → WebSocket': await typingSeen(p.page, 'Pat', w.page, 'Wes'),
      'SSE → long polling': await typingSeen(s.page, 'Sam', p.page, 'Pat'),
      'long polling → SSE': await typingSeen(p.page, 'Pat', s.page, 'Sam'),
    };
    console.log(`typing across wires (ms until shown, and gone after clearing): ${JSON.stringify(seen)}`);
    for (const [watcher, chat, name] of [[s, 'Sam', 'typing-over-sse-desktop'], [p, 'Pat', 'typing-over-long-poll-phone']] as const) {
      await open(w.page, chat);
      await open(watcher.page, 'Wes');
      await composer(w.page).pressSequentially('still typing', { delay: 30 });
      await watcher.page.getByTestId('typing').getByText('Wes is typing…').waitFor(LIVE);
      await shot(watcher.page, name);
      await composer(w.page).fill('');
    }
    for (const d of [w, s, p]) expect(d.problems).toEqual([]);
  });
});
