/**
 * Presence across every pairing of wires (issue 18, item 5), in Chromium against
 * `wrangler dev` on port 8851. Wes is on WebSocket, Sam on `?transport=sse`, Pat on
 * `?transport=long-poll`; Wes chats with Sam and with Pat. Each sees the other online in
 * the chat header, and "last seen" once the other leaves, within a few seconds. (Typing
 * on every pairing: typing-wires.test.ts.)
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWrangler, type Wrangler } from '../e2e/wrangler.js';
import { launchChromium, shot, openChat, threeWires, type Device } from './helpers.js';

const PORT = 8851;
/** How soon a live signal must show on the other side (a fallback's presence is polled). */
const LIVE = { timeout: 8_000 };

let server: Wrangler;
let browser: Browser;
let w: Device;
let s: Device;
let p: Device;

beforeAll(async () => {
  server = await startWrangler(PORT);
  browser = await launchChromium();
  ({ w, s, p } = await threeWires(browser, server.url));
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});


describe('presence on every pairing of wires', () => {
  it('presence: each sees the other online in the chat header, and last seen once the other leaves', async () => {
    const pairs: [Device, string, Device, string][] = [
      [s, 'Sam', w, 'Wes'], // Sam (SSE) watches Wes (WebSocket)
      [w, 'Wes', s, 'Sam'],
      [p, 'Pat', w, 'Wes'],
      [w, 'Wes', p, 'Pat'],
    ];
    const seen: Record<string, string> = {};
    for (const [watcher, watcherName, subject, subjectName] of pairs) {
      await openChat(watcher.page, subjectName);
      const started = Date.now();
      await watcher.page.locator('[data-testid="chat-presence"][data-online="true"]', { hasText: 'online' }).waitFor(LIVE);
      seen[`${watcherName} sees ${subjectName} online`] = `${Date.now() - started} ms`;
      void subject;
    }
    // Wes leaves (signs out): Sam (SSE) and Pat (long polling) see him go.
    const left = Date.now();
    await w.page.getByRole('button', { name: 'Sign out' }).click();
    for (const [watcher, name] of [[s, 'Sam'], [p, 'Pat']] as const) {
      await openChat(watcher.page, 'Wes');
      await watcher.page.locator('[data-testid="chat-presence"][data-online="false"]', { hasText: /last seen/ }).waitFor(LIVE);
      seen[`${name} sees Wes leave`] = `${Date.now() - left} ms`;
    }
    console.log(`presence across wires: ${JSON.stringify(seen)}`);
    await shot(s.page, 'presence-sse-desktop');
    for (const d of [w, s, p]) expect(d.problems).toEqual([]);
  });
});
