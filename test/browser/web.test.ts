/**
 * The web client in a real Chromium (Debian's /usr/bin/chromium, headless, driven by
 * playwright-core; never a downloaded browser) against a real `wrangler dev` serving the
 * built client (dist/web) on port 8807. Two browser contexts are two people on two
 * devices. Screenshots of the main screens go to test-results/screenshots/.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LANDSCAPE_PNG } from '../fixtures/images.js';
import { startWrangler, type Wrangler } from '../e2e/wrangler.js';
import { WAIT, device as newDevice, launchChromium, message, register, row, send, shot, signIn, startChat, type Device } from './helpers.js';

const PORT = 8807;
const PHONE = { width: 375, height: 740 };
const DESKTOP = { width: 1100, height: 720 };

let server: Wrangler;
let browser: Browser;
const run = crypto.randomUUID().slice(0, 6);
const alice = { handle: `alice_${run}`, name: 'Alice' };
const bob = { handle: `bob_${run}`, name: 'Bob' };

beforeAll(async () => {
  server = await startWrangler(PORT);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** A fresh browser context (its own storage: another device) that records CSP violations and page errors. */
async function device(viewport: { width: number; height: number }): Promise<Device> {
  const { context, page, problems } = await newDevice(browser, server.url, viewport);
  // Records every value the upload progress bar shows (it may be on screen only briefly).
  await context.addInitScript(() => {
    const seen: number[] = [];
    (window as unknown as { progressSeen: number[] }).progressSeen = seen;
    new MutationObserver(() => {
      const bar = document.querySelector('progress');
      if (bar) seen.push(Number(bar.getAttribute('value') ?? 0) / Number(bar.getAttribute('max') ?? 1));
    }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['value'] });
  });
  return { context, page, problems };
}

describe('web client in Chromium', () => {
  it('two people register, find each other and chat: live messages, receipts, typing, an image, offline sends', async () => {
    const a = await device(DESKTOP);
    const b = await device(PHONE);

    // The page runs under the strict CSP (violations would be in `problems`).
    const response = await a.page.goto('/');
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'; style-src 'self'");
    await shot(a.page, 'sign-in-desktop');
    await register(a.page, alice, 'Alice laptop');
    await register(b.page, bob, 'Bob phone');

    // Alice finds Bob by handle (he is online: his device stream runs with only the list
    // open) and writes first.
    await startChat(a.page, bob);
    await a.page.getByTestId('connection').getByText('Connected via WebSocket').waitFor(WAIT);
    await a.page.locator('[data-testid="chat-presence"][data-online="true"]', { hasText: 'online' }).waitFor(WAIT);
    await send(a.page, 'Hi Bob!');

    // Bob's list gets the conversation live from his device stream (the list's own
    // refresh is a minute away), unread, with Alice online; his device acknowledged the
    // message, so Alice's mark says delivered while Bob has not opened it.
    await row(b.page, 'Alice').getByLabel('1 unread').waitFor(WAIT);
    await row(b.page, 'Alice').locator('[data-testid="presence-dot"][data-online="true"]').waitFor(WAIT);
    expect(await row(b.page, 'Alice').locator('.preview').textContent()).toBe('Hi Bob!');
    await message(a.page, 'Hi Bob!').locator('.status[data-status="delivered"]').waitFor(WAIT);
    await shot(a.page, 'delivered-desktop');
    await shot(b.page, 'list-phone');

    // Bob opens it: Alice's mark turns to read.
    await row(b.page, 'Alice').click();
    await message(b.page, 'Hi Bob!').waitFor(WAIT);
    await message(a.page, 'Hi Bob!').locator('.status[data-status="read"]').waitFor(WAIT);

    // Live: with both windows open, Alice's next message appears on Bob's screen without a reload,
    // and its mark only ever moves forward (sent → delivered → read).
    await a.page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { statuses: string[] }).statuses = seen;
      new MutationObserver(() => {
        const mark = [...document.querySelectorAll('li.message')].find((li) => li.textContent?.includes('Are you there?'))?.querySelector('.status');
        const status = mark?.getAttribute('data-status');
        if (status && seen.at(-1) !== status) seen.push(status);
      }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    });
    await a.page.getByLabel('Message', { exact: true }).fill('Are you there?');
    await a.page.getByRole('button', { name: 'Send' }).click();
    await message(b.page, 'Are you there?').waitFor(WAIT);
    await message(a.page, 'Are you there?').locator('.status[data-status="read"]').waitFor(WAIT);
    const statuses = await a.page.evaluate(() => (window as unknown as { statuses: string[] }).statuses);
    const rank = { sending: 0, queued: 0, sent: 1, delivered: 2, read: 3 } as Record<string, number>;
    expect(statuses.at(-1)).toBe('read');
    expect(statuses.map((s) => rank[s])).toEqual([...statuses.map((s) => rank[s]!)].sort((x, y) => x - y));

    // Typing shows on the other side, and goes when Alice stops.
    await b.page.getByLabel('Message', { exact: true }).pressSequentially('I am typ', { delay: 20 });
    await a.page.getByTestId('typing').getByText('Bob is typing…').waitFor(WAIT);
    await shot(a.page, 'chat-typing-desktop');
    await b.page.getByLabel('Message', { exact: true }).fill('');
    await b.page.getByLabel('Message', { exact: true }).press('Backspace');
    await b.page.getByLabel('Message', { exact: true }).fill('Yes, here.');
    await b.page.getByLabel('Message', { exact: true }).press('Enter');
    await expect.poll(() => a.page.getByTestId('typing').textContent(), WAIT).toBe('');
    await message(a.page, 'Yes, here.').waitFor(WAIT);

    // An image: picked, it is previewed and nothing is sent; removed, it is gone (the next
    // Send carries only text, right after Bob's last message); picked again, it goes with a
    // caption on Send: progress while uploading, a thumbnail on Bob's side, full view on click.
    const pick = () => a.page.locator('input[type=file]').setInputFiles({ name: 'landscape.png', mimeType: 'image/png', buffer: Buffer.from(LANDSCAPE_PNG) });
    const staged = a.page.getByRole('group', { name: 'Attachment to send' });
    const uploads: string[] = [];
    const onUpload = (r: { method(): string; url(): string }) => void (new URL(r.url()).pathname.startsWith('/v1/media') && uploads.push(`${r.method()} ${new URL(r.url()).pathname}`));
    a.page.on('request', onUpload);
    await pick();
    await staged.getByRole('img', { name: 'Preview of landscape.png' }).waitFor(WAIT);
    await shot(a.page, 'image-staged-desktop');
    await staged.getByRole('button', { name: 'Remove attachment' }).click();
    await staged.waitFor({ state: 'detached', timeout: WAIT.timeout });
    // Proof that Remove sent nothing: the next message reaches Bob as plain text, next in seq
    // to his last one (not as the caption of an image, nothing between them), and by the time
    // it has made that round trip Alice's page has not asked to upload anything.
    const before = Number(await message(b.page, 'Yes, here.').getAttribute('data-seq'));
    await send(a.page, 'Nothing attached');
    const plain = b.page.locator('li.message:not(.pending)', { hasText: 'Nothing attached' });
    await plain.waitFor(WAIT);
    expect(Number(await plain.getAttribute('data-seq'))).toBe(before + 1);
    expect(await plain.locator('p.text').textContent()).toBe('Nothing attached');
    expect(await b.page.locator('li.message .media').count()).toBe(0);
    expect(uploads).toEqual([]);
    a.page.off('request', onUpload);
    await pick();
    await a.page.getByLabel('Message', { exact: true }).fill('The view from here');
    await a.page.getByRole('button', { name: 'Send' }).click();
    await staged.waitFor({ state: 'detached', timeout: WAIT.timeout });
    await b.page.locator('li.message figcaption', { hasText: 'The view from here' }).waitFor(WAIT);
    const thumb = b.page.locator('li.message .thumb img');
    await thumb.waitFor(WAIT);
    await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), WAIT).toBeGreaterThan(0);
    expect(await thumb.getAttribute('src')).toMatch(/^blob:/);
    const progress = await a.page.evaluate(() => (window as unknown as { progressSeen: number[] }).progressSeen);
    expect(progress.length).toBeGreaterThan(0);
    await shot(b.page, 'chat-phone');
    await thumb.click();
    await b.page.locator('dialog.lightbox img').waitFor(WAIT);
    await shot(b.page, 'image-full-phone');
    await b.page.keyboard.press('Escape');

    // Reply, react and edit show on both sides.
    await message(b.page, 'Are you there?').locator('summary').click();
    await b.page.getByRole('button', { name: 'Reply' }).click();
    await b.page.getByLabel('Message', { exact: true }).fill('Replying here');
    await b.page.getByLabel('Message', { exact: true }).press('Enter');
    await message(a.page, 'Replying here').locator('blockquote', { hasText: 'Are you there?' }).waitFor(WAIT);
    await message(a.page, 'Yes, here.').locator('summary').click();
    await a.page.getByRole('button', { name: 'React 👍' }).click();
    await message(b.page, 'Yes, here.').getByRole('button', { name: /👍 1/ }).waitFor(WAIT);
    await message(a.page, 'Hi Bob!').locator('summary').click();
    await a.page.getByRole('button', { name: 'Edit' }).click();
    await a.page.getByLabel('Message', { exact: true }).fill('Hi Bob! (edited)');
    await a.page.getByRole('button', { name: 'Save' }).click();
    await message(b.page, 'Hi Bob! (edited)').locator('.edited').waitFor(WAIT);
    await shot(a.page, 'chat-desktop');

    // Offline: the message waits, counted as queued, and is delivered on reconnect.
    await a.context.setOffline(true);
    await a.page.getByTestId('connection').getByText(/Offline/).waitFor(WAIT);
    await a.page.getByLabel('Message', { exact: true }).fill('Sent while offline');
    await a.page.getByLabel('Message', { exact: true }).press('Enter');
    await a.page.getByTestId('connection').getByText('1 queued').waitFor(WAIT);
    // Offline, Bob's presence is unknown here: no stale "online".
    expect(await a.page.getByTestId('chat-presence').count()).toBe(0);
    await shot(a.page, 'offline-queued-desktop');
    await new Promise((r) => setTimeout(r, 1_000)); // a quiet period: nothing leaves while offline
    expect(await message(b.page, 'Sent while offline').count()).toBe(0);
    await a.context.setOffline(false);
    await message(b.page, 'Sent while offline').waitFor({ timeout: 30_000 });
    await a.page.getByTestId('connection').getByText('Connected via WebSocket').waitFor({ timeout: 30_000 });
    expect(await message(b.page, 'Sent while offline').count()).toBe(1);

    // Delete for everyone leaves a tombstone on the other side.
    await message(a.page, 'Sent while offline').locator('summary').click();
    await a.page.getByRole('button', { name: 'Delete for everyone' }).click();
    await a.page.getByRole('button', { name: 'Yes, delete for everyone' }).click();
    await message(b.page, 'This message was deleted.').waitFor(WAIT);

    // Presence, live in Alice's open chat: Bob signs out (offline, last seen), and back in.
    await b.page.getByRole('button', { name: 'Back to conversations' }).click();
    await b.page.getByRole('button', { name: 'Sign out' }).click();
    await a.page.locator('[data-testid="chat-presence"][data-online="false"]', { hasText: 'last seen just now' }).waitFor(WAIT);
    await shot(a.page, 'presence-offline-desktop');
    await signIn(b.page, bob, 'Bob phone');
    await a.page.locator('[data-testid="chat-presence"][data-online="true"]').waitFor(WAIT);

    // A group: it comes to the top of Bob's open list with one unread, live.
    await a.page.getByRole('button', { name: 'New group' }).click();
    await a.page.getByLabel('Name').fill('Team');
    await a.page.getByLabel('Members').fill(`@${bob.handle}`);
    await a.page.getByRole('button', { name: 'Create' }).click();
    await a.page.getByRole('heading', { name: 'Team' }).waitFor(WAIT);
    await send(a.page, 'Hello team');
    await b.page.locator('ul.conversations li:first-child button', { hasText: 'Team' }).getByLabel('1 unread').waitFor(WAIT);

    // "Read by k of n", and who read it.
    await row(b.page, 'Team').click();
    await message(b.page, 'Hello team').waitFor(WAIT);
    await message(a.page, 'Hello team').getByRole('button', { name: 'Read by 1 of 1' }).click();
    await a.page.getByRole('dialog', { name: 'Message info' }).getByText(/Bob\s*Read/).waitFor(WAIT);
    await shot(a.page, 'group-read-by-desktop');
    await a.page.keyboard.press('Escape');
    await b.page.getByRole('button', { name: /Members/ }).click();
    await b.page.getByRole('dialog', { name: /members/ }).getByText('Alice').waitFor(WAIT);
    await shot(b.page, 'group-members-phone');
    await b.page.keyboard.press('Escape');

    // A broadcast channel: Alice posts; Bob reads it and has no composer there.
    await a.page.getByRole('button', { name: 'New group' }).click();
    await a.page.getByLabel('Name').fill('Announcements');
    await a.page.getByLabel('Members').fill(`@${bob.handle}`);
    await a.page.getByLabel('Broadcast channel').check();
    await a.page.getByRole('button', { name: 'Create' }).click();
    await a.page.getByRole('heading', { name: 'Announcements' }).waitFor(WAIT);
    await send(a.page, 'Doors open at nine');
    await b.page.getByRole('button', { name: 'Back to conversations' }).click();
    await row(b.page, 'Announcements').click();
    await message(b.page, 'Doors open at nine').waitFor(WAIT);
    await b.page.getByTestId('read-only').getByText('Only the owner and admins post in this channel.').waitFor(WAIT);
    expect(await b.page.locator('#composer-input').count()).toBe(0);
    // A reply is a post: not offered; reacting is.
    const post = message(b.page, 'Doors open at nine');
    await post.locator('summary').click();
    await post.getByRole('button', { name: 'React 👍' }).waitFor(WAIT);
    expect(await post.getByRole('button', { name: 'Reply' }).count()).toBe(0);
    await post.locator('summary').click();
    await shot(b.page, 'broadcast-reader-phone');

    // A new message in the older chat moves it back to the top of Bob's list, live.
    await b.page.getByRole('button', { name: 'Back to conversations' }).click();
    await row(b.page, 'Team').waitFor(WAIT);
    await row(a.page, 'Bob').click();
    await send(a.page, 'One more thing');
    await b.page.locator('ul.conversations li:first-child button', { hasText: 'One more thing' }).getByLabel('1 unread').waitFor(WAIT);
    await shot(b.page, 'list-live-phone');

    expect(a.problems).toEqual([]);
    expect(b.problems).toEqual([]);
    await a.context.close();
    await b.context.close();
  });
  it('over SSE and long polling: the badge names the wire, chat and receipts work; delete for me reaches my other device', async () => {
    const carol = { handle: `carol_${run}`, name: 'Carol' };
    const dave = { handle: `dave_${run}`, name: 'Dave' };
    const c = await device(DESKTOP);
    const d = await device(PHONE);
    await register(c.page, carol, 'Carol SSE', '/?transport=sse');
    await register(d.page, dave, 'Dave long poll', '/?transport=long-poll');

    await startChat(c.page, dave);
    await c.page.getByTestId('connection').getByText('Connected via SSE').waitFor(WAIT);
    await send(c.page, 'Over SSE');
    await row(d.page, 'Carol').getByLabel('1 unread').waitFor(WAIT);
    await row(d.page, 'Carol').click();
    await d.page.getByTestId('connection').getByText('Connected via long polling').waitFor(WAIT);
    await message(d.page, 'Over SSE').waitFor(WAIT);
    // No live receipt frames on these wires: the read mark comes from the receipts poll.
    await message(c.page, 'Over SSE').locator('.status[data-status="read"]').waitFor(WAIT);
    await send(d.page, 'Back over long polling');
    await message(c.page, 'Back over long polling').waitFor(WAIT);
    await shot(c.page, 'chat-sse-desktop');
    await shot(d.page, 'chat-long-poll-phone');

    // Carol's second device (WebSocket) has the chat open; she hides a message for herself
    // on the first, and it goes on the second too, while Dave still has it.
    const c2 = await device(PHONE);
    await signIn(c2.page, carol, 'Carol phone');
    await row(c2.page, 'Dave').click();
    await message(c2.page, 'Back over long polling').waitFor(WAIT);
    await c2.page.getByTestId('connection').getByText('Connected via WebSocket').waitFor(WAIT);
    await message(c.page, 'Back over long polling').locator('summary').click();
    await c.page.getByRole('button', { name: 'Delete for me' }).click();
    await expect.poll(() => message(c.page, 'Back over long polling').count(), WAIT).toBe(0);
    await expect.poll(() => message(c2.page, 'Back over long polling').count(), WAIT).toBe(0);
    expect(await message(d.page, 'Back over long polling').count()).toBe(1);

    for (const x of [c, d, c2]) {
      expect(x.problems).toEqual([]);
      await x.context.close();
    }
  });
});
