/**
 * The main dialogs and states of the web client at both widths the issue names (issue 18,
 * item 4), in Debian's Chromium against `wrangler dev` on port 8990: New group, Members,
 * message Info, the full-size image, the "Delete for everyone" confirmation, the chat
 * header, the unread divider, a chat opened offline, the app reloaded offline. In each, by
 * geometry: no element reaches past the viewport's edges, nothing makes the page scroll
 * sideways, and every open dialog and menu lies inside the viewport with its content no
 * wider than itself. Each is saved as test-results/screenshots/screens-<state>-<width>.png.
 * Ada is in the browser; Ben (with a long name, for the header) and Cy are on the HTTP API.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LANDSCAPE_PNG } from '../fixtures/images.js';
import { serviceHandle } from '../e2e/migrated-state.js';
import { startWrangler, type Wrangler } from '../e2e/wrangler.js';
import {
  Api,
  DESKTOP,
  PHONE,
  WAIT,
  boxesOutside,
  device,
  launchChromium,
  message,
  openChat,
  overflowing,
  register,
  row,
  send,
  shot,
  signIn,
  type ApiUser,
  type Device,
  type Person,
} from './helpers.js';

const PORT = 8990;
const GROUP = 'Screens group';
/** Ben's display name: long enough that a phone's chat header must cut it. */
const BEN_NAME = 'Benedict Fitzgerald-Montgomery the Third';

let server: Wrangler;
let browser: Browser;
let api: Api;
const run = crypto.randomUUID().slice(0, 6);
const ada: Person = { handle: `ada_${run}`, name: 'Ada' };
let ben: ApiUser;
let withBen: string;
let group: string;
/** Ben's inbox socket: he is online, so the header shows his presence. */
let benOnline: WebSocket;

beforeAll(async () => {
  server = await startWrangler(PORT);
  api = new Api(server.url);
  browser = await launchChromium();
  // Ben writes more than a new account may in a minute: a service account.
  ben = await api.register({ handle: serviceHandle('ben'), name: BEN_NAME });
  const cy = await api.register({ handle: `cy_${run}`, name: 'Cy' });
  benOnline = await api.online(ben);
  const setup = await device(browser, server.url, DESKTOP);
  await register(setup.page, ada, 'Ada setup');
  await setup.context.close();
  const adaId = await api.userId(ada.handle, ben);
  withBen = await api.direct(ben, adaId);
  await api.send(ben, withBen, 'Hello Ada');
  group = await api.group(ben, GROUP, [adaId, cy.id]);
  await api.send(ben, group, 'Welcome to the group, both of you.');
});

afterAll(async () => {
  benOnline?.close();
  await browser?.close();
  await server?.stop();
});

/** No element past the viewport's edges, no sideways scrolling, every dialog and menu inside. */
async function fits(page: Page, what: string): Promise<void> {
  expect(await overflowing(page), what).toEqual([]);
  expect(await page.evaluate(() => document.documentElement.scrollWidth), what).toBeLessThanOrEqual(page.viewportSize()!.width);
  expect(await boxesOutside(page), what).toEqual([]);
}

/** Ada's own message in the open chat, sent now and acknowledged. */
async function mine(page: Page, text: string) {
  await send(page, text);
  const bubble = page.locator('li.message.mine:not(.pending)', { hasText: text });
  await bubble.waitFor(WAIT);
  return bubble;
}

for (const [width, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
  describe(`at ${viewport.width}x${viewport.height} (${width})`, () => {
    let d: Device;
    let page: Page;
    const name = (state: string) => `screens-${state}-${width}`;

    beforeAll(async () => {
      d = await device(browser, server.url, viewport);
      page = d.page;
      await signIn(page, ada, `Ada ${width}`);
      await row(page, GROUP).waitFor(WAIT);
    });

    // A failed check leaves its dialog or menu open; the next state starts without it.
    afterEach(async () => {
      await page.evaluate(() => {
        for (const dialog of document.querySelectorAll('dialog[open]')) (dialog as HTMLDialogElement).close();
        for (const menu of document.querySelectorAll('details[open]')) menu.removeAttribute('open');
      });
    });

    afterAll(async () => {
      expect(d.problems).toEqual([]);
      await d.context.close();
    });

    it('the New group dialog', async () => {
      await page.getByRole('button', { name: 'New group' }).click();
      await page.getByRole('dialog', { name: 'New group' }).waitFor(WAIT);
      await fits(page, 'New group');
      await shot(page, name('new-group'));
      await page.keyboard.press('Escape');
    });

    it('the Members dialog', async () => {
      await openChat(page, GROUP);
      await message(page, 'Welcome to the group').waitFor(WAIT);
      // A short group name is not cut by the header's buttons, a phone's included.
      expect(await page.locator('#chat-title').evaluate((h) => h.scrollWidth - h.clientWidth)).toBeLessThanOrEqual(0);
      await page.getByRole('button', { name: /Members/ }).click();
      const dialog = page.getByRole('dialog', { name: /members/ });
      await dialog.getByText('Cy').waitFor(WAIT);
      await fits(page, 'Members');
      await shot(page, name('members'));
      await page.keyboard.press('Escape');
    });

    it('the message Info dialog, and the "Delete for everyone" confirmation', async () => {
      const bubble = await mine(page, `Who has read this? (${width})`);
      // Ben reads it, so the dialog shows a time beside his name.
      await api.call(`/conversations/${group}/read`, { token: ben.token, body: { seq: Number(await bubble.getAttribute('data-seq')) } });
      await bubble.getByText('Read by 1 of 2').waitFor(WAIT);
      await bubble.locator('summary').click();
      await bubble.getByRole('button', { name: 'Info' }).click();
      const info = page.getByRole('dialog', { name: 'Message info' });
      await info.locator('li', { hasText: /^.*Read (?!by)/ }).waitFor(WAIT);
      await fits(page, 'Info');
      // Each receipt ("Read Dec 6, 05:57 PM") on one line: the name is cut first.
      const wrapped = await info.locator('ul.members li > span.muted').evaluateAll((cells) =>
        cells.filter((c) => c.getBoundingClientRect().height > 2 * parseFloat(getComputedStyle(c).fontSize)).map((c) => c.textContent),
      );
      expect(wrapped).toEqual([]);
      await shot(page, name('message-info'));
      await page.keyboard.press('Escape');

      await bubble.locator('summary').click();
      await bubble.getByRole('button', { name: 'Delete for everyone' }).click();
      await bubble.getByRole('button', { name: 'Yes, delete for everyone' }).waitFor(WAIT);
      await fits(page, 'Delete for everyone?');
      await shot(page, name('delete-confirm'));
      await bubble.getByRole('button', { name: 'Keep it' }).click();
      await bubble.locator('summary').click();
    });

    it('the full-size image', async () => {
      await page.locator('input[type=file]').setInputFiles({ name: 'landscape.png', mimeType: 'image/png', buffer: Buffer.from(LANDSCAPE_PNG) });
      await page.getByRole('group', { name: 'Attachment to send' }).waitFor(WAIT);
      await page.getByRole('button', { name: 'Send', exact: true }).click();
      const image = page.locator('li.message.mine:not(.pending)').getByRole('button', { name: 'Open image' }).last();
      await image.locator('img').waitFor(WAIT);
      await image.click();
      await page.locator('dialog.lightbox[open] img').waitFor(WAIT);
      await expect.poll(() => page.locator('dialog.lightbox[open] img').evaluate((img) => (img as HTMLImageElement).complete), WAIT).toBe(true);
      await fits(page, 'full-size image');
      await shot(page, name('image-full'));
      await page.keyboard.press('Escape');
    });

    it('the chat header (a long name, the peer online)', async () => {
      await openChat(page, BEN_NAME);
      await message(page, 'Hello Ada').waitFor(WAIT);
      await page.locator('[data-testid="chat-presence"][data-online="true"]').waitFor(WAIT);
      await page.getByTestId('connection').getByText(/^Connected/).waitFor(WAIT);
      await fits(page, 'chat header');
      // The name is cut, not the header's buttons pushed away.
      for (const button of await page.locator('.chat-header button:visible').all()) {
        const box = (await button.boundingBox())!;
        expect(box.x + box.width, await button.textContent() ?? '').toBeLessThanOrEqual(viewport.width);
      }
      await shot(page, name('chat-header'));
    });

    it('the unread divider', async () => {
      await page.goto('/');
      await row(page, BEN_NAME).waitFor(WAIT);
      for (let i = 1; i <= 6; i++) await api.send(ben, withBen, `Unread number ${i} (${width}): a line long enough to wrap on a phone.`);
      await row(page, BEN_NAME).getByLabel('6 unread').waitFor(WAIT);
      await row(page, BEN_NAME).click();
      await page.locator('[data-mark="unread"]', { hasText: '6 new messages' }).waitFor(WAIT);
      await message(page, `Unread number 6 (${width})`).waitFor(WAIT);
      await fits(page, 'unread divider');
      await shot(page, name('unread-divider'));
    });

    it('a chat opened offline', async () => {
      await expect.poll(() => page.evaluate(() => navigator.serviceWorker?.controller !== null), WAIT).toBe(true);
      await d.context.setOffline(true);
      await page.getByTestId('connection').getByText(/Offline/).waitFor(WAIT);
      await openChat(page, GROUP);
      await page.getByTestId('connection').getByText(/Offline/).waitFor(WAIT);
      // The list says it is a group before the service can: others' messages name their author.
      await message(page, 'Welcome to the group, both of you.').locator('.author', { hasText: BEN_NAME }).waitFor(WAIT);
      await fits(page, 'chat opened offline');
      await shot(page, name('offline-chat'));
    });

    it('the app reloaded offline', async () => {
      // On a phone, from the list: what the app shows of it offline is the state to see.
      const back = page.getByRole('button', { name: 'Back to conversations' });
      if (await back.isVisible()) await back.click();
      await page.reload();
      await page.getByText('Offline: showing the last list.').waitFor(WAIT);
      await row(page, GROUP).waitFor(WAIT);
      await fits(page, 'reloaded offline');
      await shot(page, name('offline-reload'));
      await d.context.setOffline(false);
    });
  });
}
