/**
 * Accessibility of the main screens (issue 18), checked by axe-core in Debian's Chromium
 * against a real `wrangler dev` on port 8862: the sign-in and create-account forms, the
 * conversation list with a chat open (messages both ways, a message's menu, search and
 * its results), the New group dialog, a message's Info dialog, the "Delete for everyone"
 * confirmation and a group's Members dialog (with Remove buttons: Ada owns it), at
 * 1280x800; the list and a chat at 390x844. No
 * violation of impact "serious" or "critical" (WCAG 2.x A and AA rules) may stand.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWrangler, type Wrangler } from '../e2e/wrangler.js';
import { DESKTOP, PHONE, WAIT, device, launchChromium, message, register, row, send, startChat, type Device, type Person } from './helpers.js';

const PORT = 8862;
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** The rule sets checked: WCAG 2.0, 2.1 and 2.2 at levels A and AA. */
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * axe-core's serious and critical violations on the page as it is now. Evaluated through
 * the devtools protocol, which the page's Content Security Policy does not govern.
 */
async function seriousViolations(page: Page): Promise<Violation[]> {
  await page.evaluate(AXE_SOURCE);
  const found = await page.evaluate(async (tags) => {
    const axe = (window as unknown as { axe: { run(context: Document, options: object): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => JSON.stringify(n.target)) }));
  }, TAGS);
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

let server: Wrangler;
let browser: Browser;
const run = crypto.randomUUID().slice(0, 6);
const ada: Person = { handle: `ada_${run}`, name: 'Ada' };
const ben: Person = { handle: `ben_${run}`, name: 'Ben' };

beforeAll(async () => {
  server = await startWrangler(PORT);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('the main screens have no serious accessibility violations', () => {
  let a: Device;
  let b: Device;

  it('the sign-in and create-account forms', async () => {
    a = await device(browser, server.url, DESKTOP);
    await a.page.goto('/');
    await a.page.getByRole('tab', { name: 'Create account' }).waitFor(WAIT);
    expect(await seriousViolations(a.page)).toEqual([]);
    await a.page.getByRole('tab', { name: 'Create account' }).click();
    expect(await seriousViolations(a.page)).toEqual([]);
  });

  it('the list with a chat open, its message menu, and the dialogs, at desktop width', async () => {
    await register(a.page, ada, 'Ada laptop');
    b = await device(browser, server.url, PHONE);
    await register(b.page, ben, 'Ben phone');
    await startChat(a.page, ben);
    await send(a.page, 'Hello Ben, is this readable?');
    await message(a.page, 'Hello Ben, is this readable?').waitFor(WAIT);
    await row(b.page, 'Ada').click();
    await send(b.page, 'Perfectly, Ada.');
    await message(a.page, 'Perfectly, Ada.').waitFor(WAIT);
    expect(await seriousViolations(a.page)).toEqual([]);

    await message(a.page, 'Perfectly, Ada.').locator('summary').click();
    expect(await seriousViolations(a.page)).toEqual([]);
    await a.page.keyboard.press('Escape');

    await a.page.getByRole('button', { name: 'Search' }).click();
    await a.page.getByLabel('Search messages').fill('readable');
    await a.page.getByRole('button', { name: 'Find' }).click();
    await a.page.getByRole('button', { name: /is this readable/ }).waitFor(WAIT);
    expect(await seriousViolations(a.page)).toEqual([]);
    await a.page.getByRole('button', { name: 'Close' }).click();

    await a.page.getByRole('button', { name: 'New group' }).click();
    await a.page.getByRole('dialog').waitFor(WAIT);
    expect(await seriousViolations(a.page)).toEqual([]);
    await a.page.keyboard.press('Escape');
  });

  it('the message Info dialog, the "Delete for everyone" confirmation, and a group\'s Members dialog', async () => {
    const mine = a.page.locator('li.message.mine:not(.pending)', { hasText: 'Hello Ben, is this readable?' });
    await mine.locator('summary').click();
    await mine.getByRole('button', { name: 'Info' }).click();
    await a.page.getByRole('dialog', { name: 'Message info' }).getByText(/Read by/).waitFor(WAIT);
    expect(await seriousViolations(a.page)).toEqual([]);
    await a.page.keyboard.press('Escape');

    await mine.locator('summary').click();
    await mine.getByRole('button', { name: 'Delete for everyone' }).click();
    await mine.getByRole('group', { name: 'Delete for everyone?' }).waitFor(WAIT);
    expect(await seriousViolations(a.page)).toEqual([]);
    await mine.getByRole('button', { name: 'Keep it' }).click();
    await mine.locator('summary').click();

    await a.page.getByRole('button', { name: 'New group' }).click();
    const create = a.page.getByRole('dialog', { name: 'New group' });
    await create.getByLabel('Name').fill('Readers');
    await create.getByLabel('Members').fill(`@${ben.handle}`);
    await create.getByRole('button', { name: 'Create' }).click();
    await a.page.getByRole('heading', { name: 'Readers' }).waitFor(WAIT);
    await a.page.getByRole('button', { name: /Members/ }).click();
    await a.page.getByRole('dialog', { name: /members/ }).getByText('Ben').waitFor(WAIT);
    expect(await seriousViolations(a.page)).toEqual([]);
    await a.page.keyboard.press('Escape');
  });

  it('the list and a chat at phone width', async () => {
    await b.page.goto('/');
    await row(b.page, 'Ada').waitFor(WAIT);
    expect(await seriousViolations(b.page)).toEqual([]);
    await row(b.page, 'Ada').click();
    await message(b.page, 'Perfectly, Ada.').waitFor(WAIT);
    expect(await seriousViolations(b.page)).toEqual([]);
    expect([...a.problems, ...b.problems]).toEqual([]);
  });
});
