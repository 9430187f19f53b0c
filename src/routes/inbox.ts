/**
 * @module routes/inbox
 * The device event stream, one per device, carrying the events of all the user's
 * conversations, over three wires: the inbox socket (GET /v1/inbox/ws?ticket=,
 * authenticated like a chat-window socket), Server-Sent Events (GET /v1/inbox/events)
 * and long polling (GET /v1/inbox/poll), plus POST /v1/inbox/ack. The HTTP wires take
 * the bearer header: the SDK reads SSE with fetch() and a stream parser, because
 * EventSource cannot send headers and a long-lived token must never sit in a URL.
 */
import { Hono } from 'hono';
import type { AppBindings } from '../env.js';
import { INBOX, InboxAckBody, InboxPollQuery, InboxStreamQuery } from '../protocol/index.js';
import { requireAuth } from '../middleware/auth.js';
import { parseParams, readJson } from '../middleware/body.js';
import { AppError, unwrap } from '../errors.js';
import { longPoll, sseStream } from '../user/stream.js';
import { SSE_HEADERS, resumePosition } from '../sse.js';
import { authenticateUpgrade, forwardUpgrade } from './upgrade.js';

export const inboxRoutes = new Hono<AppBindings>()
  .get('/ws', async (c) => {
    const identity = await authenticateUpgrade(c);
    if (identity instanceof Response) return identity;
    return forwardUpgrade(c.env.USERS.getByName(identity.userId), identity, 'https://user.internal/inbox');
  })
  .use(requireAuth())
  .get('/events', (c) => {
    const { cursor: queryCursor } = parseParams(InboxStreamQuery, c.req.query());
    const cursor = resumePosition(c.req.header('last-event-id'), queryCursor);
    if (cursor === undefined) throw new AppError('invalid_request', 'Last-Event-ID must be a cursor (a non-negative integer).');
    const { userId, deviceId } = c.get('identity');
    const body = sseStream(c.env.USERS.getByName(userId), { userId, deviceId, cursor });
    return new Response(body, { headers: SSE_HEADERS });
  })
  .get('/poll', async (c) => {
    const { cursor, timeoutMs } = parseParams(InboxPollQuery, c.req.query());
    const { userId, deviceId } = c.get('identity');
    const page = await longPoll(c.env.USERS.getByName(userId), deviceId, cursor ?? null, timeoutMs ?? INBOX.longPollMs);
    return c.json(page, 200, { 'cache-control': 'no-store' });
  })
  .post('/ack', async (c) => {
    const { cursor } = await readJson(c, InboxAckBody);
    const { userId, deviceId } = c.get('identity');
    return c.json(unwrap(await c.env.USERS.getByName(userId).ackEvents(deviceId, cursor)));
  });
