/**
 * @module routes/push
 * Web Push subscriptions, one per device, and the key a browser needs to create one.
 */
import { Hono } from 'hono';
import type { AppBindings } from '../env.js';
import { PushSubscriptionBody } from '../protocol/index.js';
import { requireAuth } from '../middleware/auth.js';
import { readJson } from '../middleware/body.js';
import { vapidKeys } from '../config.js';
import { deleteSubscription, getSubscription, saveSubscription } from '../push/subscriptions.js';

export const pushRoutes = new Hono<AppBindings>()
  // Public: the key is public by design, and a page may want it before anyone logs in.
  .get('/vapid-public-key', (c) => c.json({ publicKey: vapidKeys(c.env).publicKey }))
  .use('/subscriptions', requireAuth())
  .post('/subscriptions', async (c) => {
    const body = await readJson(c, PushSubscriptionBody);
    await saveSubscription(c.env, c.get('identity'), body);
    // Before answering: the user's UserDO skips push work while it believes there is no subscription.
    await c.env.USERS.getByName(c.get('identity').userId).pushSubscriptionsChanged();
    return c.body(null, 204);
  })
  .get('/subscriptions', async (c) => c.json({ subscription: await getSubscription(c.env.DB, c.get('identity')) }))
  .delete('/subscriptions', async (c) => {
    await deleteSubscription(c.env.DB, c.get('identity'));
    await c.env.USERS.getByName(c.get('identity').userId).pushSubscriptionsChanged();
    return c.body(null, 204);
  });
