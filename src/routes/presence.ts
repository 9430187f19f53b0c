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

export const presenceRoutes = new Hono<AppBindings>()
  .use(requireAuth())
  .post('/query', async (c) => {
    const { userIds } = await readJson(c, PresenceQueryBody);
    const unique = [...new Set(userIds)];
    // Unknown ids answer "offline, never seen" without creating an object for them.
    const known = await existingUserIds(c.env.DB, unique);
    const presence = await Promise.all(
      unique.map((id) => (known.has(id) ? c.env.USERS.getByName(id).presence() : { userId: id, online: false, lastSeenAt: null })),
    );
    return c.json({ presence });
  })
  .put('/settings', async (c) => {
    const settings = await readJson(c, PresenceSettingsBody);
    return c.json({ presence: await c.env.USERS.getByName(c.get('identity').userId).setPresenceSettings(settings) });
  });
