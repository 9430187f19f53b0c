/**
 * The web client in a real Chromium (Debian's /usr/bin/chromium, headless, driven by
 * playwright-core; never a downloaded browser) against a real `wrangler dev` serving the
 * built client (dist/web) on port 8807. Two browser contexts are two people on two
 * devices. Screenshots of the main screens go to test-results/screenshots/.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LANDSCAPE_PNG } from '../fixtures/images.js';
import { startWrangler, type Wrangler } from '../e2e/wrangler.js';

const PORT = 8807;
const SHOTS = resolve(import.meta.dirname, '../../test-results/screenshots');
const WAIT = { timeout: 15_000 };
const PHONE = { width: 375, height: 740 };
const DESKTOP = { width: 1100, height: 720 };

let server: Wrangler;
let browser: Browser;
const run = crypto.randomUUID().slice(0, 6);
const alice = { handle: `alice_${run}`, name: 'Alice' };
const bob = { handle: `bob_${run}`, name: 'Bob' };

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startWrangler(PORT);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** A fresh browser context (its own storage: another device) that records CSP violations and page errors. */
async function device(viewport: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport, baseURL: server.url });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/.test(msg.text())) problems.push(`csp: ${msg.text()}`);
  });
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

async function register(page: Page, who: { handle: string; name: string }, deviceName: string): Promise<void> {
  await page.goto('/');
  await page.getByRole('tab', { name: 'Create account' }).click();
  await page.getByLabel('Handle').fill(who.handle);
  await page.getByLabel('Display name').fill(who.name);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByLabel('Device name').fill(deviceName);
  await page.getByRole('button', { name: 'Create account' }).last().click();
  await page.getByText(`@${who.handle}`).waitFor(WAIT);
}

function message(page: Page, text: string) {
  return page.locator('li.message', { hasText: text });
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
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

    // Alice finds Bob by handle and writes first.
    await a.page.getByLabel('Handle to chat with').fill(`@${bob.handle}`);
    await a.page.getByRole('button', { name: 'Chat', exact: true }).click();
    await a.page.getByRole('heading', { name: 'Bob' }).waitFor(WAIT);
    await a.page.getByTestId('connection').getByText('Online via WebSocket').waitFor(WAIT);
    await a.page.getByLabel('Message', { exact: true }).fill('Hi Bob!');
    await a.page.getByLabel('Message', { exact: true }).press('Enter');
    await message(a.page, 'Hi Bob!').locator('.status').waitFor(WAIT);

    // Bob sees the conversation in his list and opens it.
    await b.page.getByRole('button', { name: /Alice/ }).waitFor(WAIT);
    await shot(b.page, 'list-phone');
    await b.page.getByRole('button', { name: /Alice/ }).click();
    await message(b.page, 'Hi Bob!').waitFor(WAIT);

    // Bob read it: Alice's mark turns to read.
    await a.page.locator('li.message', { hasText: 'Hi Bob!' }).locator('.status[data-status="read"]').waitFor(WAIT);

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

    // An image: progress while uploading, a thumbnail on Bob's side, full view on click.
    await a.page.locator('input[type=file]').setInputFiles({ name: 'landscape.png', mimeType: 'image/png', buffer: Buffer.from(LANDSCAPE_PNG) });
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
    await shot(a.page, 'offline-queued-desktop');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await message(b.page, 'Sent while offline').count()).toBe(0);
    await a.context.setOffline(false);
    await message(b.page, 'Sent while offline').waitFor({ timeout: 30_000 });
    await a.page.getByTestId('connection').getByText('Online via WebSocket').waitFor({ timeout: 30_000 });
    expect(await message(b.page, 'Sent while offline').count()).toBe(1);

    // Delete for everyone leaves a tombstone on the other side.
    await message(a.page, 'Sent while offline').locator('summary').click();
    await a.page.getByRole('button', { name: 'Delete for everyone' }).click();
    await message(b.page, 'This message was deleted.').waitFor(WAIT);

    // A group: "Read by k of n", and who read it.
    await b.page.getByRole('button', { name: 'Back to conversations' }).click();
    await a.page.getByRole('button', { name: 'New group' }).click();
    await a.page.getByLabel('Name').fill('Team');
    await a.page.getByLabel('Members').fill(`@${bob.handle}`);
    await a.page.getByRole('button', { name: 'Create' }).click();
    await a.page.getByRole('heading', { name: 'Team' }).waitFor(WAIT);
    await a.page.getByLabel('Message', { exact: true }).fill('Hello team');
    await a.page.getByLabel('Message', { exact: true }).press('Enter');
    await b.page.getByRole('button', { name: /Team/ }).click();
    await message(b.page, 'Hello team').waitFor(WAIT);
    await message(a.page, 'Hello team').getByRole('button', { name: 'Read by 1 of 1' }).click();
    await a.page.getByRole('dialog', { name: 'Message info' }).getByText(/Bob\s*Read/).waitFor(WAIT);
    await shot(a.page, 'group-read-by-desktop');
    await a.page.keyboard.press('Escape');
    await b.page.getByRole('button', { name: /Members/ }).click();
    await b.page.getByRole('dialog', { name: /members/ }).getByText('Alice').waitFor(WAIT);
    await shot(b.page, 'group-members-phone');

    expect(a.problems).toEqual([]);
    expect(b.problems).toEqual([]);
    await a.context.close();
    await b.context.close();
  });
});
