/**
 * Presence across every pairing of wires (issue 18, item 5), in Chromium against
 * `wrangler dev` on port 8851. Wes is on WebSocket, Sam on `?transport=sse`, Pat on
 * `?transport=long-poll`, and each pair has a chat. In each of the six directions the one
 * watching sees the other online in the chat header, and "last seen" once the other leaves
 * (signs out), within a few seconds: a fallback watcher asks for presence every few
 * seconds, a WebSocket watcher hears the change on its chat window socket. (Typing on
 * every pairing: typing-wires.test.ts.)
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWrangler, type Wrangler } from '../e2e/wrangler.js';
import { launchChromium, shot, openChat, signIn, threeWires, type Device, type ThreeWires } from './helpers.js';

const PORT = 8851;
/** How soon a live signal must show on the other side (a fallback's presence is polled). */
const LIVE = { timeout: 8_000 };

let server: Wrangler;
let browser: Browser;
let w: Device;
let s: Device;
let p: Device;
let people: ThreeWires['people'];
/** How long each sighting took, printed at the end. */
const seen: Record<string, string> = {};

beforeAll(async () => {
  server = await startWrangler(PORT);
  browser = await launchChromium();
  ({ w, s, p, people } = await threeWires(browser, server.url, { samWithPat: true }));
});

afterAll(async () => {
  console.log(`presence across wires: ${JSON.stringify(seen)}`);
  await browser?.close();
  await server?.stop();
});

/** `watcher` opens the chat with `subject` and waits until its header shows them online (or, `online: false`, last seen). */
async function sees(watcher: Page, subject: string, online: boolean, label: string, since = Date.now()): Promise<void> {
  await openChat(watcher, subject);
  const header = online
    ? watcher.locator('[data-testid="chat-presence"][data-online="true"]', { hasText: 'online' })
    : watcher.locator('[data-testid="chat-presence"][data-online="false"]', { hasText: /last seen/ });
  await header.waitFor(LIVE).catch((error: unknown) => {
    throw new Error(`${label}: not shown within ${LIVE.timeout} ms`, { cause: error });
  });
  seen[label] = `${Date.now() - since} ms`;
}

/** Signs out from wherever the page is (on a phone, the list with its Sign out is behind the open chat). */
async function signOut(d: Device): Promise<number> {
  const back = d.page.getByRole('button', { name: 'Back to conversations' });
  if (await back.isVisible()) await back.click();
  await d.page.getByRole('button', { name: 'Sign out' }).click();
  await d.page.getByRole('tab', { name: 'Create account' }).waitFor(LIVE);
  return Date.now();
}

describe('presence on every pairing of wires', () => {
  it('each sees the other online in the chat header, in all six directions', async () => {
    await sees(s.page, 'Wes', true, 'SSE sees WebSocket online');
    await sees(w.page, 'Sam', true, 'WebSocket sees SSE online');
    await sees(p.page, 'Wes', true, 'long polling sees WebSocket online');
    await sees(w.page, 'Pat', true, 'WebSocket sees long polling online');
    await sees(s.page, 'Pat', true, 'SSE sees long polling online');
    await sees(p.page, 'Sam', true, 'long polling sees SSE online');
  });

  it('a fallback user leaving: the WebSocket watcher (its chat open) and the other fallback wire see them go', async () => {
    // Wes watches Pat, Sam watches Pat; Pat leaves.
    await openChat(w.page, 'Pat');
    await openChat(s.page, 'Pat');
    const patLeft = await signOut(p);
    await sees(w.page, 'Pat', false, 'WebSocket sees long polling leave', patLeft);
    await sees(s.page, 'Pat', false, 'SSE sees long polling leave', patLeft);
    // Wes watches Sam; Sam leaves.
    await sees(w.page, 'Sam', true, 'WebSocket sees SSE online again');
    const samLeft = await signOut(s);
    await sees(w.page, 'Sam', false, 'WebSocket sees SSE leave', samLeft);
    await shot(w.page, 'presence-fallback-left-desktop');
  });

  it('a WebSocket user leaving: both fallback wires see him go; an SSE user leaving: long polling sees it', async () => {
    await signIn(s.page, people.sam, 'Sam laptop again', '/?transport=sse');
    await signIn(p.page, people.pat, 'Pat phone again', '/?transport=long-poll');
    await sees(p.page, 'Sam', true, 'long polling sees SSE back');
    await sees(s.page, 'Wes', true, 'SSE sees WebSocket online (back)');
    const wesLeft = await signOut(w);
    await sees(s.page, 'Wes', false, 'SSE sees WebSocket leave', wesLeft);
    await sees(p.page, 'Wes', false, 'long polling sees WebSocket leave', wesLeft);
    await shot(s.page, 'presence-sse-desktop');
    await sees(p.page, 'Sam', true, 'long polling sees SSE online (still)');
    const samLeft = await signOut(s);
    await sees(p.page, 'Sam', false, 'long polling sees SSE leave', samLeft);
    for (const d of [w, s, p]) expect(d.problems).toEqual([]);
  });
});
