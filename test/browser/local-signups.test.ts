/**
 * Local development does not lock signups out (issue 18, item 7): every local client is
 * the same (loopback) address and the limiter's count is kept on disk, so the production
 * limit of 10 registrations an hour per address would refuse the README's tour after a
 * few runs. A fresh local setup (wrangler.toml's top-level vars, `wrangler dev` on port
 * 8852) registers 30 accounts from Chromium without a refusal; the same config run as
 * production (`--var ENVIRONMENT:production`, port 8853) still refuses the 11th, and the
 * page says when to try again in minutes.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productionSecrets, startWrangler, type Wrangler } from '../e2e/wrangler.js';
import { DESKTOP, PHONE, WAIT, device, launchChromium, register, shot } from './helpers.js';

let local: Wrangler;
let production: Wrangler;
let browser: Browser;
const run = crypto.randomUUID().slice(0, 6);

beforeAll(async () => {
  // One after the other: two wrangler devs starting at the same moment can collide on a port of their own.
  local = await startWrangler(8852);
  // Real secrets: production refuses the development values.
  production = await startWrangler(8853, await productionSecrets());
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([local?.stop(), production?.stop()]);
});

/** Registers `handle` from the page (the browser's own fetch, so the page's address); the HTTP status. */
function registerFrom(page: Page, handle: string): Promise<number> {
  return page.evaluate(async (h) => {
    const res = await fetch('/v1/auth/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ handle: h, displayName: h, password: 'correct horse battery', deviceName: 'signup test' }),
    });
    if (res.status !== 201 && res.status !== 429) console.error(`register ${h}: ${res.status} ${await res.text()}`);
    return res.status;
  }, handle);
}

describe('registrations from this machine', () => {
  it('a fresh local setup registers 30 accounts without a refusal', async () => {
    const d = await device(browser, local.url, DESKTOP);
    await d.page.goto('/');
    const statuses: number[] = [];
    for (let i = 0; i < 28; i++) statuses.push(await registerFrom(d.page, `local_${run}_${i}`));
    expect(statuses).toEqual(Array(28).fill(201));
    // The last two through the form, as a person would.
    await register(d.page, { handle: `local_${run}_28`, name: 'Twenty-nine' }, 'laptop');
    await d.page.getByRole('button', { name: 'Sign out' }).click();
    // Signed out once the sign-in screen is back: a reload before that would keep the session.
    await d.page.getByRole('tab', { name: 'Create account' }).waitFor(WAIT);
    await register(d.page, { handle: `local_${run}_29`, name: 'Thirty' }, 'laptop');
    expect(d.problems).toEqual([]);
    await d.context.close();
  });

  it('run as production, the same config still refuses the 11th, and the page says when to try again in minutes', async () => {
    const d = await device(browser, production.url, PHONE);
    await d.page.goto('/');
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push(await registerFrom(d.page, `prod_${run}_${i}`));
    expect(statuses).toEqual(Array(10).fill(201));
    expect(await registerFrom(d.page, `prod_${run}_10`)).toBe(429);

    await d.page.getByRole('tab', { name: 'Create account' }).click();
    await d.page.getByLabel('Handle').fill(`prod_${run}_11`);
    await d.page.getByLabel('Display name').fill('Eleventh');
    await d.page.getByLabel('Password').fill('correct horse battery');
    await d.page.getByLabel('Device name').fill('phone');
    await d.page.getByRole('button', { name: 'Create account' }).last().click();
    const alert = d.page.getByRole('alert');
    await alert.waitFor(WAIT);
    expect(await alert.textContent()).toMatch(/try again in (about )?\d+ min/);
    expect(await alert.textContent()).not.toMatch(/\d{3,} s/);
    await shot(d.page, 'signup-refused-phone');
    await d.context.close();
  });
});
