/**
 * @module routes/presence
 * Presence on demand: one batch call for many users (whoever has no open chat window
 * with them asks here rather than subscribing), and the user's own presence setting.
 *
 * Presence is private (src/user/presence-relay.ts): each user's UserDO shows their real
 * presence only to someone who shares one of their conversations and whom they did not
 * block. Everyone else, and every id nobody has, gets the same "offline, never seen".
 */
import { Hono } from 'hono';
import type { AppBindings } from '../env.js';
import { PresenceQueryBody, PresenceSettingsBody, type Presence } from '../protocol/index.js';
import { requireAuth } from '../middleware/auth.js';
import { readJson } from '../middleware/body.js';
import { existingUserIds } from '../auth/accounts.js';
import { TIER_LIMITS } from '../ratelimit/rules.js';
import { take } from '../ratelimit/limiters.js';

const hidden = (userId: string): Presence => ({ userId, online: false, lastSeenAt: null });

export const presenceRoutes = new Hono<AppBindings>()
  .use(requireAuth())
  .post('/query', async (c) => {
    const { userIds } = await readJson(c, PresenceQueryBody);
    const viewerId = c.get('identity').userId;
    await take(c.env, `user:presence:${viewerId}`, TIER_LIMITS[c.get('tier')].presenceQueries, 'presence queries');
    const unique = [...new Set(userIds)];
    // The viewer's conversations (each target checks for one in common) and whom they blocked, in one call.
    const viewer = await c.env.USERS.getByName(viewerId).presenceViewer();
    const hiddenIds = new Set(viewer.blockedIds);
    const askable = unique.filter((id) => id === viewerId || (!hiddenIds.has(id) && viewer.conversationIds.length > 0));
    // Unknown ids answer like hidden ones, without creating an object for them.
    const known = askable.length > 0 ? await existingUserIds(c.env.DB, askable) : new Set<string>();
    const presence = await Promise.all(
      unique.map((id) => (known.has(id) ? c.env.USERS.getByName(id).presence(viewerId, viewer.conversationIds) : hidden(id))),
    );
    return c.json({ presence });
  })
  .put('/settings', async (c) => {
    const settings = await readJson(c, PresenceSettingsBody);
    return c.json({ presence: await c.env.USERS.getByName(c.get('identity').userId).setPresenceSettings(settings) });
  });
