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
import { DeviceEventPage, INBOX, InboxAckBody, InboxAckResponse, InboxPollQuery, InboxStreamQuery } from '../protocol/index.js';
import { doc } from '../openapi/describe.js';
import { frameRef } from '../openapi/document.js';
import { countOpen } from '../metrics.js';
import { requireAuth } from '../middleware/auth.js';
import { parseParams, readJson } from '../middleware/body.js';
import { AppError, unwrap } from '../errors.js';
import { longPoll, sseStream } from '../user/stream.js';
import { SSE_HEADERS, resumePosition } from '../sse.js';
import { answerUpgrade, authenticateUpgrade, forwardUpgrade } from './upgrade.js';

/** Each route's OpenAPI entry (src/openapi/describe.ts): the schemas are those the handler reads. */
const docs = {
  ws: doc({
    tag: 'inbox',
    auth: 'ticket',
    summary: 'Open the inbox (WebSocket)',
    description:
      "This device's event stream over a socket: InboxClientFrame in, InboxServerFrame out; one per device (a newer one closes the older with 4009). Refusals as for chat windows.",
    responses: { 101: { description: 'Switching protocols: the first frame is `inbox_ready`, then the backlog.' } },
    errors: ['upgrade_required'],
    extensions: { 'x-frames': { client: frameRef('InboxClientFrame'), server: frameRef('InboxServerFrame') } },
  }),
  events: doc({
    tag: 'inbox',
    summary: 'The device event stream (Server-Sent Events)',
    description:
      'Each `deliver` message\'s SSE id is its cursor; resuming with Last-Event-ID acknowledges everything up to it. Ends after 5 minutes, or with an `error` frame when the device is signed out.',
    query: InboxStreamQuery,
    headers: { 'Last-Event-ID': 'Resume after this cursor, acknowledging it (wins over `cursor`).' },
    responses: { 200: { description: 'An event stream; each `data:` line is an InboxServerFrame.', media: { type: 'text/event-stream', schema: frameRef('InboxServerFrame') } } },
    extensions: { 'x-frames': { server: frameRef('InboxServerFrame') } },
  }),
  poll: doc({
    tag: 'inbox',
    summary: 'The device event stream (long poll)',
    description: '`cursor` acknowledges everything up to it and asks for what follows; answers at once or holds up to `timeoutMs` (at most 25 s).',
    query: InboxPollQuery,
    responses: { 200: { description: 'A page of device events (empty after a timeout).', schema: DeviceEventPage } },
  }),
  ack: doc({
    tag: 'inbox',
    summary: 'Acknowledge device events',
    description: 'Everything up to and including `cursor` leaves this device\'s queue; a lower cursor changes nothing.',
    body: InboxAckBody,
    responses: { 200: { description: "The device's acknowledged cursor now.", schema: InboxAckResponse } },
  }),
};

export const inboxRoutes = new Hono<AppBindings>()
  .get('/ws', docs.ws, async (c) => {
    const identity = await authenticateUpgrade(c);
    const answer = identity instanceof Response ? identity : await forwardUpgrade(c.env.USERS.getByName(identity.userId), identity, 'https://user.internal/inbox');
    return answerUpgrade(c.req.raw, answer);
  })
  .use(requireAuth())
  .get('/events', docs.events, (c) => {
    const { cursor: queryCursor } = parseParams(InboxStreamQuery, c.req.query());
    const cursor = resumePosition(c.req.header('last-event-id'), queryCursor);
    if (cursor === undefined) throw new AppError('invalid_request', 'Last-Event-ID must be a cursor (a non-negative integer).');
    const { userId, deviceId } = c.get('identity');
    const body = sseStream(c.env.USERS.getByName(userId), { userId, deviceId, cursor });
    return new Response(countOpen(c.env, 'inbox_sse', body), { headers: SSE_HEADERS });
  })
  .get('/poll', docs.poll, async (c) => {
    const { cursor, timeoutMs } = parseParams(InboxPollQuery, c.req.query());
    const { userId, deviceId } = c.get('identity');
    const page = await longPoll(c.env.USERS.getByName(userId), deviceId, cursor ?? null, timeoutMs ?? INBOX.longPollMs);
    return c.json(page, 200, { 'cache-control': 'no-store' });
  })
  .post('/ack', docs.ack, async (c) => {
    const { cursor } = await readJson(c, InboxAckBody);
    const { userId, deviceId } = c.get('identity');
    return c.json(unwrap(await c.env.USERS.getByName(userId).ackEvents(deviceId, cursor)));
  });
