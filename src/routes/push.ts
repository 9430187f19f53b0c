/**
 * @module routes/push
 * Web Push subscriptions, one per device, and the key a browser needs to create one.
 */
import { Hono } from 'hono';
import type { AppBindings } from '../env.js';
import { PushSubscriptionBody, PushSubscriptionInfo, VapidKeyResponse } from '../protocol/index.js';
import { z } from 'zod';
import { doc } from '../openapi/describe.js';
import { requireAuth } from '../middleware/auth.js';
import { readJson } from '../middleware/body.js';
import { vapidKeys } from '../config.js';
import { deleteSubscription, getSubscription, saveSubscription } from '../push/subscriptions.js';

/** Each route's OpenAPI entry (src/openapi/describe.ts): the schemas are those the handler reads. */
const docs = {
  key: doc({
    tag: 'push',
    auth: 'none',
    summary: 'The VAPID public key',
    description: 'Pass it as `applicationServerKey` to `PushManager.subscribe`. Public by design.',
    responses: { 200: { description: 'The key (base64url, uncompressed P-256).', schema: VapidKeyResponse } },
  }),
  subscribe: doc({
    tag: 'push',
    summary: 'Subscribe this device',
    description: "The browser's `subscription.toJSON()`. One per device: replaces this device's previous one.",
    body: PushSubscriptionBody,
    responses: { 204: { description: 'Saved.' } },
  }),
  get: doc({
    tag: 'push',
    summary: "This device's subscription",
    description: 'The endpoint and when it was saved, or null.',
    responses: { 200: { description: 'The subscription.', schema: z.object({ subscription: PushSubscriptionInfo.nullable() }) } },
  }),
  remove: doc({
    tag: 'push',
    summary: 'Unsubscribe this device',
    description: 'Also answers 204 when there was none.',
    responses: { 204: { description: 'Removed.' } },
  }),
};

export const pushRoutes = new Hono<AppBindings>()
  // Public: the key is public by design, and a page may want it before anyone logs in.
  .get('/vapid-public-key', docs.key, (c) => c.json({ publicKey: vapidKeys(c.env).publicKey }))
  .use('/subscriptions', requireAuth())
  .post('/subscriptions', docs.subscribe, async (c) => {
    const body = await readJson(c, PushSubscriptionBody);
    await saveSubscription(c.env, c.get('identity'), body);
    // Before answering: the user's UserDO skips push work while it believes there is no subscription.
    await c.env.USERS.getByName(c.get('identity').userId).pushSubscriptionsChanged();
    return c.body(null, 204);
  })
  .get('/subscriptions', docs.get, async (c) => c.json({ subscription: await getSubscription(c.env.DB, c.get('identity')) }))
  .delete('/subscriptions', docs.remove, async (c) => {
    await deleteSubscription(c.env.DB, c.get('identity'));
    await c.env.USERS.getByName(c.get('identity').userId).pushSubscriptionsChanged();
    return c.body(null, 204);
  });
