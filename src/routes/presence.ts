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
import { Presence, PresenceQueryBody, PresenceSettingsBody } from '../protocol/index.js';
import { z } from 'zod';
import { doc } from '../openapi/describe.js';
import { requireAuth } from '../middleware/auth.js';
import { readJson } from '../middleware/body.js';
import { existingUserIds } from '../auth/accounts.js';
import { TIER_LIMITS } from '../ratelimit/rules.js';
import { take } from '../ratelimit/limiters.js';

const hidden = (userId: string): Presence => ({ userId, online: false, lastSeenAt: null });

/** Each route's OpenAPI entry (src/openapi/describe.ts): the schemas are those the handler reads. */
const docs = {
  query: doc({
    tag: 'presence',
    summary: 'Who is online',
    description:
      'Up to 200 users. The truth only about users who share a conversation with you and did not block you; everyone else answers `{ online: false, lastSeenAt: null }`, as an id nobody has.',
    body: PresenceQueryBody,
    responses: { 200: { description: 'Presence, in the order asked.', schema: z.object({ presence: z.array(Presence) }) } },
    errors: ['rate_limited'],
  }),
  settings: doc({
    tag: 'presence',
    summary: 'Presence settings',
    description: '`hideLastSeen`: your last-seen time is hidden from everyone.',
    body: PresenceSettingsBody,
    responses: { 200: { description: 'Your presence as others see it.', schema: z.object({ presence: Presence }) } },
  }),
};

export const presenceRoutes = new Hono<AppBindings>()
  .use(requireAuth())
  .post('/query', docs.query, async (c) => {
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
  .put('/settings', docs.settings, async (c) => {
    const settings = await readJson(c, PresenceSettingsBody);
    return c.json({ presence: await c.env.USERS.getByName(c.get('identity').userId).setPresenceSettings(settings) });
  });
