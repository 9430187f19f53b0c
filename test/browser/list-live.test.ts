/**
 * The conversation list keeps up with the chat on screen, in Chromium against `wrangler
 * dev` on port 8899. The server holds a watching member's inbox calls for a minute
 * (FANOUT_WATCHING_INTERVAL_MS), so the device event stream says nothing of a burst in the
 * open chat for that long: what the list shows of it comes from the chat's own events
 * (lib/open-chat.ts).
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWrangler, type Wrangler } from '../e2e/wrangler.js';
import { Api, DESKTOP, WAIT, device, launchChromium, message, openChat, register, row, type Device, type Person } from './helpers.js';

const PORT = 8899;
/** Far longer than the test waits for the list: only the chat's own events can move it. */
const WATCHING_INTERVAL_MS = 60_000;
/** How soon the list must show what the open chat shows. */
const LIVE = { timeout: 5_000 };

let server: Wrangler;
let browser: Browser;
let wes: Device;

beforeAll(async () => {
  server = await startWrangler(PORT, { FANOUT_WATCHING_INTERVAL_MS: String(WATCHING_INTERVAL_MS) });
  browser = await launchChromium();
  wes = await device(browser, server.url, DESKTOP);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('the conversation list beside an open chat', () => {
  it('shows the chat’s newest message at once, while the stream holds it back', async () => {
    const run = crypto.randomUUID().slice(0, 6);
    const wesPerson: Person = { handle: `wes_${run}`, name: 'Wes' };
    await register(wes.page, wesPerson, 'Wes laptop');
    const api = new Api(server.url);
    const ann = await api.register({ handle: `ann_${run}`, name: 'Ann' });
    const chat = await api.direct(ann, await api.userId(wesPerson.handle, ann));
    await row(wes.page, 'Ann').waitFor(WAIT);
    await openChat(wes.page, 'Ann');
    await wes.page.getByTestId('connection').getByText(/^Connected/).waitFor(WAIT);

    // The first message after a quiet spell reaches Wes's inbox at once; the next ones wait for the interval.
    await api.send(ann, chat, 'first of the burst');
    await message(wes.page, 'first of the burst').waitFor(WAIT);
    await expect.poll(() => row(wes.page, 'Ann').textContent(), LIVE).toContain('first of the burst');
    const startedAt = Date.now();
    await api.send(ann, chat, 'second of the burst');
    await api.send(ann, chat, 'last of the burst');
    await message(wes.page, 'last of the burst').waitFor(WAIT);
    await expect.poll(() => row(wes.page, 'Ann').textContent(), LIVE).toContain('last of the burst');
    // Well within the interval: the stream had not brought it.
    expect(Date.now() - startedAt).toBeLessThan(WATCHING_INTERVAL_MS / 2);
    expect(await row(wes.page, 'Ann').locator('.unread').count()).toBe(0);
    expect(wes.problems).toEqual([]);
  });
});
