/**
 * @module routes/presence
 * Presence on demand: one batch call for many users (whoever has no open chat window
 * with them asks here rather than subscribing), and the user's own presence setting.
 */
import { Hono } from 'hono';
import type { AppBindings } from '../env.js';
import { PresenceQueryBody, PresenceSettingsBody } from '../protocol/index.js';
import { requireAuth } from '../middleware/auth.js';
import { readJson } from '../middleware/body.js';
import { existingUserIds } from '../auth/accounts.js';
import { TIER_LIMITS } from '../ratelimit/rules.js';
import { take } from '../ratelimit/limiters.js';

export const presenceRoutes = new Hono<AppBindings>()
  .use(requireAuth())
  .post('/query', async (c) => {
    const { userIds } = await readJson(c, PresenceQueryBody);
    const viewerId = c.get('identity').userId;
    await take(c.env, `user:presence:${viewerId}`, TIER_LIMITS[c.get('tier')].presenceQueries, 'presence queries');
    const unique = [...new Set(userIds)];
    // Unknown ids answer "offline, never seen" without creating an object for them; so do
    // users the caller blocked, and users who blocked the caller (their UserDO decides that).
    const [known, blocked] = await Promise.all([existingUserIds(c.env.DB, unique), c.env.USERS.getByName(viewerId).blockedIds()]);
    const hidden = new Set(blocked);
    const presence = await Promise.all(
      unique.map((id) =>
        known.has(id) && !hidden.has(id) ? c.env.USERS.getByName(id).presence(viewerId) : { userId: id, online: false, lastSeenAt: null },
      ),
    );
    return c.json({ presence });
  })
  .put('/settings', async (c) => {
    const settings = await readJson(c, PresenceSettingsBody);
    return c.json({ presence: await c.env.USERS.getByName(c.get('identity').userId).setPresenceSettings(settings) });
  });
