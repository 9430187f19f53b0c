/**
 * End-to-end encryption in the web client (issue 17), in Debian's Chromium against a real
 * `wrangler dev` on port 8981: two people register (each browser makes and publishes its
 * device's keys), one starts an encrypted direct chat with the toggle, and they write both
 * ways (a reply shows its quote, an edit reaches the other side); both open the safety-number screen and see the same 60 digits for each other's
 * device; one reloads and still reads and writes (the keys and sessions are in IndexedDB);
 * then that one signs out (the device's database is deleted) and signs in again as a new
 * device with new keys: the other sees the key-change notice in the timeline, the new
 * device shows what it cannot decrypt as such (never the envelope), and messages flow
 * both ways again, in the direct chat and in an encrypted group made with the New group
 * dialog's toggle. Search is off in the chat, with its reason. Screenshots of the
 * safety-number screen and of the chat with its lock and notice, at 1280x800 and 390x844,
 * go to /tmp/e2ee-screenshots (test/browser has no screenshot folder of its own); axe-core
 * finds no serious violation on the safety-number screen or in the chat with its notice.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWrangler, type Wrangler } from '../e2e/wrangler.js';
import { DESKTOP, PHONE, WAIT, composer, device, launchChromium, message, overflowing, register, send, type Device, type Person } from './helpers.js';

const PORT = 8981;
const SHOTS = '/tmp/e2ee-screenshots';
const PASSWORD = 'correct horse battery';
const E2EE_DB_PREFIX = 'edge-chat-e2ee:';
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let server: Wrangler;
let browser: Browser;
const run = crypto.randomUUID().slice(0, 6);
const alice: Person = { handle: `alice_${run}`, name: 'Alice' };
const bob: Person = { handle: `bob_${run}`, name: 'Bob' };

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startWrangler(PORT);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** This device's encryption is on (keys made or read, published). */
async function encryptionOn(page: Page): Promise<void> {
  await page.locator('.shell[data-e2ee="ready"]').waitFor({ ...WAIT, timeout: 60_000 });
}

async function signIn(page: Page, who: Person, deviceName: string): Promise<void> {
  await page.getByLabel('Handle').fill(who.handle);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Device name').fill(deviceName);
  await page.getByRole('button', { name: 'Sign in' }).last().click();
  await page.getByText(`@${who.handle}`).waitFor(WAIT);
}

/** The list's row of the encrypted chat titled `title`. */
function lockedRow(page: Page, title: string) {
  return page.locator('ul.conversations button', { hasText: title }).filter({ has: page.getByTestId('row-lock') });
}

/** Opens the safety-number screen from the chat header and returns the digits shown for each device (in order). */
async function safetyNumbers(page: Page): Promise<string[]> {
  await page.getByRole('button', { name: /safety numbers/i }).first().click();
  const dialog = page.getByRole('dialog', { name: 'Safety numbers' });
  await dialog.getByTestId('safety-digits').first().waitFor(WAIT);
  return dialog.getByTestId('safety-digits').allTextContents();
}

/** The digits as the screen groups them (12 groups of 5), read from its spans. */
async function groups(page: Page): Promise<string[]> {
  return page.getByTestId('safety-digits').first().locator('span').allTextContents();
}

/** Names of this browser's encryption databases (one per device). */
function e2eeDatabases(page: Page): Promise<string[]> {
  return page.evaluate(async (prefix) => (await indexedDB.databases()).flatMap((d) => (d.name?.startsWith(prefix) ? [d.name] : [])), E2EE_DB_PREFIX);
}

/** axe-core's serious and critical WCAG 2.x A/AA violations on the page now (as test/browser/accessibility.test.ts checks). */
async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: { id: string; impact: string | null; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] }, resultTypes: ['violations'] });
    return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${JSON.stringify(v.nodes.slice(0, 3).map((n) => n.target))}`);
  });
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

describe('end-to-end encryption in the web client', () => {
  let a: Device;
  let b: Device;

  it('an encrypted direct chat: both ways, the same safety numbers, a reload, and a new device after sign-out with its notice', async () => {
    a = await device(browser, server.url, DESKTOP);
    b = await device(browser, server.url, DESKTOP);
    await register(a.page, alice, 'Alice laptop');
    await register(b.page, bob, 'Bob laptop');
    await encryptionOn(a.page);
    await encryptionOn(b.page);

    // Alice ticks "End-to-end encrypted" and starts the chat: it carries a lock, and search is off with its reason.
    await a.page.getByLabel('Handle to chat with').fill(`@${bob.handle}`);
    await a.page.getByLabel('End-to-end encrypted').check();
    await a.page.getByRole('button', { name: 'Chat', exact: true }).click();
    await a.page.getByRole('heading', { name: bob.name }).waitFor(WAIT);
    await a.page.getByTestId('chat-lock').waitFor(WAIT);
    await expect.poll(() => lockedRow(a.page, 'Bob').count(), WAIT).toBe(1);
    const search = a.page.getByRole('button', { name: 'Search' });
    await search.waitFor(WAIT);
    expect(await search.isDisabled()).toBe(true);
    expect(await search.getAttribute('aria-describedby')).toBe('search-off-reason');
    const reason = await a.page.locator('#search-off-reason').textContent();
    expect(reason).toMatch(/end-to-end encrypted/);
    expect(await a.page.locator('.search-off').getAttribute('title')).toBe(reason);

    await send(a.page, 'Hello Bob, only we can read this');
    await message(a.page, 'Hello Bob, only we can read this').waitFor(WAIT);
    // Bob's list cannot show what he has not decrypted yet.
    await lockedRow(b.page, 'Alice').waitFor(WAIT);
    await expect.poll(() => lockedRow(b.page, 'Alice').textContent(), WAIT).toContain('Encrypted message');
    await lockedRow(b.page, 'Alice').click();
    await message(b.page, 'Hello Bob, only we can read this').waitFor(WAIT);
    await b.page.getByTestId('chat-lock').waitFor(WAIT);
    await send(b.page, 'Hi Alice, sealed both ways');
    await message(a.page, 'Hi Alice, sealed both ways').waitFor(WAIT);
    // Now both lists show the last message as each device decrypted it.
    await expect.poll(() => lockedRow(a.page, 'Bob').textContent(), WAIT).toContain('Hi Alice, sealed both ways');
    await expect.poll(() => lockedRow(b.page, 'Alice').textContent(), WAIT).toContain('Hi Alice, sealed both ways');

    // Both compare safety numbers: 60 digits in 12 groups of 5, the same on both sides.
    const seenByAlice = await safetyNumbers(a.page);
    const seenByBob = await safetyNumbers(b.page);
    expect(seenByAlice).toHaveLength(1);
    expect(seenByBob).toHaveLength(1);
    expect(seenByAlice[0]).toMatch(/^\d{60}$/);
    expect(seenByAlice[0]).toBe(seenByBob[0]);
    const grouped = await groups(a.page);
    expect(grouped).toHaveLength(12);
    expect(grouped.every((g) => /^\d{5}$/.test(g))).toBe(true);
    expect(grouped.join('')).toBe(seenByAlice[0]);
    // Alice marks Bob's device verified; the mark is kept.
    const verify = a.page.getByRole('dialog', { name: 'Safety numbers' }).getByLabel('Mark as verified');
    await verify.check();
    await expect.poll(() => a.page.getByRole('dialog', { name: 'Safety numbers' }).locator('.verified').count(), WAIT).toBe(1);
    expect(await verify.isChecked()).toBe(true);
    expect(await seriousViolations(a.page)).toEqual([]);
    await shot(a.page, 'safety-numbers-desktop');
    await a.page.setViewportSize(PHONE);
    await shot(a.page, 'safety-numbers-phone');
    await a.page.setViewportSize(DESKTOP);
    await a.page.getByRole('dialog', { name: 'Safety numbers' }).getByRole('button', { name: 'Close' }).click();
    await b.page.getByRole('dialog', { name: 'Safety numbers' }).getByRole('button', { name: 'Close' }).click();

    // A reply shows its quote from the device's own timeline (the service cannot send it), and an edit is encrypted too.
    await message(a.page, 'Hi Alice, sealed both ways').locator('summary').click();
    await a.page.getByRole('button', { name: 'Reply' }).click();
    await send(a.page, 'Replying under seal');
    await message(b.page, 'Replying under seal').locator('blockquote', { hasText: 'Hi Alice, sealed both ways' }).waitFor(WAIT);
    await message(a.page, 'Hello Bob, only we can read this').locator('summary').click();
    await a.page.getByRole('button', { name: 'Edit' }).click();
    await composer(a.page).fill('Hello Bob, only we can read this (edited)');
    await a.page.getByRole('button', { name: 'Save' }).click();
    await message(b.page, 'Hello Bob, only we can read this (edited)').locator('.edited').waitFor(WAIT);

    // Bob reloads: the same device, its sessions read back from IndexedDB. What he read
    // before still shows (remembered, as message keys are single-use), and new messages open.
    await b.page.reload();
    await encryptionOn(b.page);
    await message(b.page, 'Hello Bob, only we can read this (edited)').locator('.edited').waitFor(WAIT);
    await message(b.page, 'Replying under seal').locator('blockquote', { hasText: 'Hi Alice, sealed both ways' }).waitFor(WAIT);
    await send(a.page, 'Still there after your reload?');
    await message(b.page, 'Still there after your reload?').waitFor(WAIT);
    await send(b.page, 'Yes, same device, same keys');
    await message(a.page, 'Yes, same device, same keys').waitFor(WAIT);
    // Had the reload lost the keys, the device would have published new ones, and Alice would be told.
    expect(await a.page.locator('li[data-mark="key-change"]').count()).toBe(0);
    expect(await b.page.locator('.undecryptable').count()).toBe(0);
    const bobDatabases = await e2eeDatabases(b.page);
    expect(bobDatabases).toHaveLength(1);

    // Bob signs out: his device's keys leave the browser with it.
    await b.page.getByRole('button', { name: 'Sign out' }).click();
    await b.page.getByRole('tab', { name: 'Create account' }).waitFor(WAIT);
    await expect.poll(() => e2eeDatabases(b.page), WAIT).toEqual([]);

    // He signs in again: a new device with new keys. Alice's open chat says his keys changed.
    await signIn(b.page, bob, 'Bob laptop again');
    await encryptionOn(b.page);
    const notice = a.page.locator('li[data-mark="key-change"]', { hasText: "Bob's devices changed" });
    await notice.waitFor(WAIT);
    expect(await a.page.locator('li[data-mark="key-change"]').count()).toBe(1);
    expect(await e2eeDatabases(b.page)).toHaveLength(1);
    expect((await e2eeDatabases(b.page))[0]).not.toBe(bobDatabases[0]);

    // The new device was not there for the earlier messages: it says so, and never shows the envelope.
    await lockedRow(b.page, 'Alice').click();
    await b.page.getByRole('heading', { name: alice.name }).waitFor(WAIT);
    await b.page.locator('.undecryptable').first().waitFor(WAIT);
    expect(await b.page.locator('.messages').textContent()).not.toMatch(/"scheme"|sender_key|pairwise/);
    expect(await b.page.locator('.undecryptable').first().textContent()).toBe('This message could not be decrypted on this device.');

    // Alice had verified Bob: his new device is not taken silently. Her send is refused
    // (the text stays in the box) until she accepts the device on the safety-number screen.
    await send(a.page, 'Welcome back, new device');
    await a.page.getByRole('alert').filter({ hasText: 'new device or a new key' }).waitFor(WAIT);
    expect(await composer(a.page).inputValue()).toBe('Welcome back, new device');
    await a.page.getByRole('button', { name: /safety numbers/i }).first().click();
    await a.page.getByRole('dialog', { name: 'Safety numbers' }).getByRole('button', { name: 'Accept this device' }).click();
    await a.page.getByRole('dialog', { name: 'Safety numbers' }).getByRole('button', { name: 'Close' }).click();
    await composer(a.page).press('Enter');

    // Then messages flow both ways with the new device.
    await message(b.page, 'Welcome back, new device').waitFor(WAIT);
    await send(b.page, 'Reading you on my new keys');
    await message(a.page, 'Reading you on my new keys').waitFor(WAIT);

    // The new device's safety number is new: Alice's screen shows it (not verified).
    const after = await safetyNumbers(a.page);
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(seenByAlice[0]);
    expect(await a.page.getByRole('dialog', { name: 'Safety numbers' }).locator('.verified').count()).toBe(0);
    await a.page.getByRole('dialog', { name: 'Safety numbers' }).getByRole('button', { name: 'Close' }).click();

    // An encrypted group, from the New group dialog's toggle: Sender Keys, read by Bob's new device.
    await a.page.getByRole('button', { name: 'New group' }).click();
    const dialog = a.page.getByRole('dialog', { name: 'New group' });
    await dialog.getByLabel('Name').fill(`Plans ${run}`);
    await dialog.getByLabel('Members').fill(`@${bob.handle}`);
    await dialog.getByLabel('End-to-end encrypted').check();
    await shot(a.page, 'new-group-dialog-desktop');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await a.page.getByRole('heading', { name: `Plans ${run}` }).waitFor(WAIT);
    await a.page.getByTestId('chat-lock').waitFor(WAIT);
    await send(a.page, 'A sealed word to the group');
    await lockedRow(b.page, `Plans ${run}`).click();
    await message(b.page, 'A sealed word to the group').waitFor(WAIT);
    await send(b.page, 'Heard, in the group');
    await message(a.page, 'Heard, in the group').waitFor(WAIT);
    await lockedRow(a.page, 'Bob').click();
    await notice.waitFor(WAIT);

    expect(await seriousViolations(a.page)).toEqual([]);
    expect(await seriousViolations(b.page)).toEqual([]);
    await shot(a.page, 'encrypted-chat-desktop');
    await a.page.setViewportSize(PHONE);
    await notice.scrollIntoViewIfNeeded();
    await shot(a.page, 'encrypted-chat-phone');
    await b.page.setViewportSize(PHONE);
    await shot(b.page, 'new-device-chat-phone');
    expect(await overflowing(a.page)).toEqual([]);
    expect(await overflowing(b.page)).toEqual([]);
    // The list on a phone: both encrypted chats with their lock and what this device decrypted.
    await b.page.getByRole('button', { name: 'Back to conversations' }).click();
    await expect.poll(() => b.page.getByTestId('row-lock').count(), WAIT).toBe(2);
    await expect.poll(() => lockedRow(b.page, 'Alice').textContent(), WAIT).toContain('Reading you on my new keys');
    expect(await overflowing(b.page)).toEqual([]);
    await shot(b.page, 'list-phone');
    // The group's header on a phone: back, title, lock, Search (off) and Members fit.
    await lockedRow(b.page, `Plans ${run}`).click();
    await message(b.page, 'Heard, in the group').waitFor(WAIT);
    await b.page.getByRole('button', { name: /^Members/ }).waitFor(WAIT);
    await b.page.getByTestId('connection').getByText(/Connected/).waitFor(WAIT);
    expect(await overflowing(b.page)).toEqual([]);
    await shot(b.page, 'group-chat-phone');
    await a.page.setViewportSize(DESKTOP);

    expect(await composer(a.page).isEnabled()).toBe(true);
    expect(a.problems).toEqual([]);
    expect(b.problems).toEqual([]);
  }, 240_000);
});
