/**
 * @module routes/conversations
 * Conversations: create (direct or group), list, inspect, manage members, send over
 * HTTP, page history, open a chat-window WebSocket or follow its feed (SSE, long polling)
 * and say you are typing without one; receipts, edits, deletes, reactions and search
 * within one conversation. Every call is answered by the
 * conversation's own Durable Object, which checks membership itself.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AppBindings, Env } from '../env.js';
import {
  Ack,
  AddMemberBody,
  CLOSE_CODES,
  ConversationInfo,
  ConversationSummary,
  HistoryPage,
  LifecycleResult,
  Member,
  MessageVersions,
  ReceiptDetail,
  ReceiptsOverview,
  SearchPage,
  Watermark,
  ConversationId,
  ConversationSettingsBody,
  CreateConversationBody,
  DeleteMessageQuery,
  EditMessageBody,
  FEED,
  FeedPage,
  FeedPollQuery,
  FeedStreamQuery,
  HistoryQuery,
  LIMITS,
  ReactBody,
  ReadBody,
  SendMessageBody,
  Seq,
  SetRoleBody,
  TypingBody,
  UserId,
} from '../protocol/index.js';
import { requireAuth } from '../middleware/auth.js';
import { parseParams, readJson } from '../middleware/body.js';
import { AppError, unwrap } from '../errors.js';
import { directConversationId, newGroupId } from '../ids.js';
import { existingUserIds } from '../auth/accounts.js';
import { RELAY_HEADER, RELAY_TARGET_HEADERS, rejectSocket } from '../objects/sockets.js';
import { authenticateUpgrade, forwardUpgrade } from './upgrade.js';
import { SSE_HEADERS, resumePosition } from '../sse.js';
import { feedStream } from '../conversation/stream.js';
import { TIER_LIMITS } from '../ratelimit/rules.js';
import { take } from '../ratelimit/limiters.js';
import { doc } from '../openapi/describe.js';
import { frameRef } from '../openapi/document.js';
import { countOpen, record } from '../metrics.js';
import { conversationStub, placedId, relayStub } from '../placement.js';
import { trace } from '../log.js';

/** The conversation's object, wherever it was placed (src/placement.ts). */
function conversation(env: Env, id: string) {
  return conversationStub(env, id);
}

/** Adds, removals and role changes are limited per user, across conversations (TIER_LIMITS.memberChanges). */
function memberChange(c: Context<AppBindings>): Promise<void> {
  const { userId } = c.get('identity');
  return take(c.env, `user:members:${userId}`, TIER_LIMITS[c.get('tier')].memberChanges, 'member changes');
}

const intParam = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const HistoryParams = z.strictObject({
  after: intParam.optional(),
  before: intParam.optional(),
  limit: intParam.optional(),
});
const SeqParam = z.coerce.number().pipe(Seq.min(1));
const SearchParams = z.strictObject({
  q: z.string().min(1).max(LIMITS.maxSearchQueryLength),
  before: intParam.optional(),
  limit: z.coerce.number().int().min(1).max(LIMITS.maxSearchPageSize).optional(),
});

const Id = { id: ConversationId };
const IdSeq = { id: ConversationId, seq: SeqParam };
const NOT_MEMBER = 'conversation_not_found' as const;

/** Each route's OpenAPI entry (src/openapi/describe.ts): the schemas are those the handler reads. */
const docs = {
  ws: doc({
    tag: 'conversations',
    auth: 'ticket',
    summary: 'Open a chat window (WebSocket)',
    description:
      'Upgrades to a chat-window socket: ChatClientFrame in, ChatServerFrame out (PROTOCOL.md, "Chat-window WebSocket frames"). A refused upgrade is accepted, sent an `error` frame naming the reason, and closed (4001 bad ticket, 4003 not a member or origin, 4004 device revoked, 1013 a large conversation\'s relays all full: try later). In a conversation of RELAY_MIN_MEMBERS or more the socket is held by a relay: the same frames, without typing, presence or receipts.',
    params: Id,
    responses: { 101: { description: 'Switching protocols: the socket is open; the first frame is `ready`.' } },
    errors: ['upgrade_required'],
    extensions: { 'x-frames': { client: frameRef('ChatClientFrame'), server: frameRef('ChatServerFrame') } },
  }),
  create: doc({
    tag: 'conversations',
    summary: 'Create a conversation',
    description:
      'A direct conversation (unique per pair and placement: creating it again returns it) or a group with its first members. Every member\'s block list goes with it. `placement`: a jurisdiction (`eu`: the object, its messages and media stay there; the id starts `eu-`) or a location hint for where the object starts.',
    body: CreateConversationBody,
    responses: { 201: { description: 'The conversation.', schema: z.object({ conversation: ConversationInfo }) } },
    errors: ['user_not_found', 'forbidden'],
  }),
  list: doc({
    tag: 'conversations',
    summary: 'List your conversations',
    description: 'Most recent activity first, with previews and unread counts.',
    responses: { 200: { description: 'The list.', schema: z.object({ conversations: z.array(ConversationSummary) }) } },
  }),
  info: doc({
    tag: 'conversations',
    summary: 'A conversation',
    description: 'Its kind, title, last seq and members. Non-members get `conversation_not_found`, as for a conversation that does not exist.',
    params: Id,
    responses: { 200: { description: 'The conversation.', schema: z.object({ conversation: ConversationInfo }) } },
    errors: [NOT_MEMBER],
  }),
  members: doc({
    tag: 'conversations',
    summary: 'Members',
    description: 'Members with their roles and when they joined.',
    params: Id,
    responses: { 200: { description: 'The members.', schema: z.object({ members: z.array(Member) }) } },
    errors: [NOT_MEMBER],
  }),
  addMember: doc({
    tag: 'conversations',
    summary: 'Add a member',
    description: 'Owners and admins add members to groups (at most 1,000). Member changes are rate-limited per user.',
    params: Id,
    body: AddMemberBody,
    responses: { 201: { description: 'The conversation after the change.', schema: z.object({ conversation: ConversationInfo }) } },
    errors: [NOT_MEMBER, 'user_not_found', 'forbidden', 'conflict', 'rate_limited'],
  }),
  setRole: doc({
    tag: 'conversations',
    summary: "Change a member's role",
    description: 'The owner makes members admins or admins members.',
    params: { id: ConversationId, userId: UserId },
    body: SetRoleBody,
    responses: { 200: { description: 'The member after the change.', schema: z.object({ member: Member }) } },
    errors: [NOT_MEMBER, 'forbidden', 'conflict', 'rate_limited'],
  }),
  removeMember: doc({
    tag: 'conversations',
    summary: 'Remove a member, or leave',
    description: 'Yourself: leave. Others: admins remove members, the owner removes admins. An owner who leaves is succeeded by the longest-standing admin, else member.',
    params: { id: ConversationId, userId: UserId },
    responses: { 204: { description: 'Removed.' } },
    errors: [NOT_MEMBER, 'forbidden', 'conflict', 'rate_limited'],
  }),
  history: doc({
    tag: 'conversations',
    summary: 'History',
    description: 'A page of events in ascending seq. `after` and `before` are exclusive bounds: `after` catches up, `before` scrolls back, both fill a gap, neither gives the newest page.',
    params: Id,
    query: HistoryParams,
    responses: { 200: { description: 'A page.', schema: HistoryPage } },
    errors: [NOT_MEMBER],
  }),
  stream: doc({
    tag: 'conversations',
    summary: "The conversation's feed (Server-Sent Events)",
    description:
      'For clients without WebSockets: `feed_ready`, the events after `Last-Event-ID` (or `after`), then live ones; each message\'s SSE id is its last seq. Ends after 5 minutes (reconnect with Last-Event-ID), or with an `error` frame when the reader is removed or signed out.',
    params: Id,
    query: FeedStreamQuery,
    headers: { 'Last-Event-ID': 'Resume after this seq (wins over `after`).' },
    responses: { 200: { description: 'An event stream; each `data:` line is a FeedFrame.', media: { type: 'text/event-stream', schema: frameRef('FeedFrame') } } },
    errors: [NOT_MEMBER],
    extensions: { 'x-frames': { server: frameRef('FeedFrame') } },
  }),
  poll: doc({
    tag: 'conversations',
    summary: "The conversation's feed (long poll)",
    description:
      'Answers at once with the events after `after` (up to 100), or holds until one exists, who is typing differs from the `typing` token (when given: the last answer\'s, empty at first), or `timeoutMs` (at most 25 s; 0 never holds) passes. Every answer says who is typing now.',
    params: Id,
    query: FeedPollQuery,
    responses: { 200: { description: 'A page (no events after a timeout or a typing change).', schema: FeedPage } },
    errors: [NOT_MEMBER, 'rate_limited'],
  }),
  typing: doc({
    tag: 'conversations',
    summary: 'Say you are typing',
    description:
      "The socket's `typing` frame for a client on a fallback wire: others see it on their windows and feeds (never those who blocked you). Never stored; a start ends by itself after 5 s. One start per device per second, and the tier's per-minute limit.",
    params: Id,
    body: TypingBody,
    responses: { 204: { description: 'Passed on (or nothing to say: a stop while not typing).' } },
    errors: [NOT_MEMBER, 'rate_limited'],
  }),
  send: doc({
    tag: 'conversations',
    summary: 'Send a message',
    description:
      'The socket\'s `send` over HTTP. `cmid` makes it idempotent: a retried cmid answers the first ack with `duplicate: true` (200). Refused sends store nothing.',
    params: Id,
    body: SendMessageBody,
    responses: {
      201: { description: 'Stored and durable.', schema: Ack },
      200: { description: 'A retried cmid: the original ack, `duplicate: true`.', schema: Ack },
    },
    errors: [NOT_MEMBER, 'forbidden', 'media_not_found', 'content_rejected', 'rate_limited'],
  }),
  edit: doc({
    tag: 'conversations',
    summary: 'Edit a message',
    description: 'Author only, within the edit window (15 minutes).',
    params: IdSeq,
    body: EditMessageBody,
    responses: { 200: { description: 'The seq of the `message_edited` event.', schema: LifecycleResult } },
    errors: [NOT_MEMBER, 'forbidden', 'conflict', 'window_expired', 'content_rejected', 'rate_limited'],
  }),
  delete: doc({
    tag: 'conversations',
    summary: 'Delete a message',
    description: '`everyone` (author within 48 hours, or an admin), `moderate` (admins; content kept for the retention period), `me` (hide it for yourself).',
    params: IdSeq,
    query: DeleteMessageQuery,
    responses: { 200: { description: 'The seq of the `message_deleted` event, or null (for `me`, or already deleted).', schema: LifecycleResult } },
    errors: [NOT_MEMBER, 'forbidden', 'window_expired', 'rate_limited'],
  }),
  react: doc({
    tag: 'conversations',
    summary: 'React to a message',
    description: 'Adds or removes one emoji reaction (at most 20 per user per message).',
    params: IdSeq,
    body: ReactBody,
    responses: { 200: { description: 'The seq of the `reaction` event, or null when nothing changed.', schema: LifecycleResult } },
    errors: [NOT_MEMBER, 'forbidden', 'conflict', 'rate_limited'],
  }),
  versions: doc({
    tag: 'conversations',
    summary: "A message's versions",
    description: 'The original and each edit, oldest first; empty once erased; moderated messages only for admins.',
    params: IdSeq,
    responses: { 200: { description: 'The versions.', schema: MessageVersions } },
    errors: [NOT_MEMBER, 'forbidden'],
  }),
  receiptDetail: doc({
    tag: 'conversations',
    summary: "A message's receipts",
    description: 'Sent, delivered or read, by whom and when (others\' private reads show as not read).',
    params: IdSeq,
    responses: { 200: { description: 'The receipts.', schema: ReceiptDetail } },
    errors: [NOT_MEMBER, 'forbidden', 'seq_out_of_range'],
  }),
  receipts: doc({
    tag: 'conversations',
    summary: 'Read and delivered watermarks',
    description: "Every member's delivered and read seq (others' private reads show as not moved).",
    params: Id,
    responses: { 200: { description: 'The watermarks.', schema: ReceiptsOverview } },
    errors: [NOT_MEMBER],
  }),
  read: doc({
    tag: 'conversations',
    summary: 'Mark read',
    description: 'You have seen up to `seq`; a lower seq changes nothing.',
    params: Id,
    body: ReadBody,
    responses: { 200: { description: 'Your own watermarks now.', schema: Watermark.omit({ userId: true }) } },
    errors: [NOT_MEMBER, 'seq_out_of_range', 'rate_limited'],
  }),
  settings: doc({
    tag: 'conversations',
    summary: 'Your settings in this conversation',
    description: '`privateReads`: others see your read watermark as not moving.',
    params: Id,
    body: ConversationSettingsBody,
    responses: { 200: { description: 'The settings.', schema: ConversationSettingsBody } },
    errors: [NOT_MEMBER],
  }),
  search: doc({
    tag: 'search',
    summary: 'Search one conversation',
    description: 'Full-text, newest first; pass `nextBefore` as `before` for more. End-to-end encrypted conversations cannot be searched.',
    params: Id,
    query: SearchParams,
    responses: { 200: { description: 'A page of hits.', schema: SearchPage } },
    errors: [NOT_MEMBER, 'search_unavailable'],
  }),
};

export const conversationRoutes = new Hono<AppBindings>()
  // The upgrade authenticates with a single-use ticket, not a bearer header (browsers
  // cannot set headers on a WebSocket), so it comes before requireAuth.
  .get('/:id/ws', docs.ws, async (c) => {
    const id = ConversationId.safeParse(c.req.param('id'));
    const identity = await authenticateUpgrade(c, () =>
      id.success ? null : rejectSocket({ code: 'conversation_not_found', message: 'No such conversation.' }, CLOSE_CODES.forbidden),
    );
    if (identity instanceof Response) return identity;
    const answer = await forwardUpgrade(conversation(c.env, id.data!), identity, 'https://conversation.internal/ws');
    const relay = answer.headers.get(RELAY_HEADER);
    if (answer.status !== 307 || relay === null) return answer;
    // A large conversation's live readers are on relays; the conversation said which one.
    const target = { [RELAY_TARGET_HEADERS.conversation]: id.data!, [RELAY_TARGET_HEADERS.index]: relay };
    return forwardUpgrade(relayStub(c.env, id.data!, Number(relay)), identity, 'https://relay.internal/ws', target);
  })
  .use(requireAuth())
  .post('/', docs.create, async (c) => {
    const body = await readJson(c, CreateConversationBody);
    const creator = c.get('identity');
    const others = body.kind === 'direct' ? [body.peerId] : [...new Set(body.memberIds)].filter((id) => id !== creator.userId);
    if (body.kind === 'direct' && body.peerId === creator.userId) {
      throw new AppError('invalid_request', 'A direct conversation needs another user.');
    }
    const known = await existingUserIds(c.env.DB, others);
    const unknown = others.filter((id) => !known.has(id));
    if (unknown.length > 0) throw new AppError('user_not_found', `No such user: ${unknown.slice(0, 5).join(', ')}.`);
    // Every member's block list goes with the creation: the conversation refuses a member
    // who blocked the creator, and hides what members blocked from them.
    const everyone = [creator.userId, ...others];
    const lists = await Promise.all(everyone.map((id) => c.env.USERS.getByName(id).blockedIds()));
    const blockLists = Object.fromEntries(everyone.map((id, i) => [id, lists[i]!]));
    if (others.some((id) => blockLists[id]!.includes(creator.userId))) {
      throw new AppError('forbidden', body.kind === 'direct' ? 'You cannot start a conversation with this user.' : 'You cannot add this user to a conversation.');
    }
    // A jurisdiction prefixes the id, so every later call finds the object where it was made.
    const id = placedId(body.kind === 'direct' ? await directConversationId(creator.userId, body.peerId) : newGroupId(), body.placement);
    const title = body.kind === 'group' ? body.title : null;
    const info = unwrap(await conversationStub(c.env, id, body.placement).create({ id, kind: body.kind, title, creator, memberIds: others, blockLists }));
    return c.json({ conversation: info }, 201);
  })
  .get('/', docs.list, async (c) => {
    const conversations = await c.env.USERS.getByName(c.get('identity').userId).listConversations(trace());
    return c.json({ conversations });
  })
  .get('/:id', docs.info, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    return c.json({ conversation: unwrap(await conversation(c.env, id).info(c.get('identity'))) });
  })
  .get('/:id/members', docs.members, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const info = unwrap(await conversation(c.env, id).info(c.get('identity')));
    return c.json({ members: info.members });
  })
  .post('/:id/members', docs.addMember, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const body = await readJson(c, AddMemberBody);
    if (!(await existingUserIds(c.env.DB, [body.userId])).has(body.userId)) throw new AppError('user_not_found', 'No such user.');
    await memberChange(c);
    const info = unwrap(await conversation(c.env, id).addMember(c.get('identity'), body.userId, body.role, trace()));
    return c.json({ conversation: info }, 201);
  })
  .patch('/:id/members/:userId', docs.setRole, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const userId = parseParams(UserId, c.req.param('userId'));
    const { role } = await readJson(c, SetRoleBody);
    await memberChange(c);
    return c.json({ member: unwrap(await conversation(c.env, id).setRole(c.get('identity'), userId, role, trace())) });
  })
  .delete('/:id/members/:userId', docs.removeMember, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const userId = parseParams(UserId, c.req.param('userId'));
    await memberChange(c);
    unwrap(await conversation(c.env, id).removeMember(c.get('identity'), userId, trace()));
    return c.body(null, 204);
  })
  .get('/:id/events', docs.history, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const query = parseParams(HistoryQuery, parseParams(HistoryParams, c.req.query()));
    return c.json(unwrap(await conversation(c.env, id).history(c.get('identity'), query)));
  })
  // The conversation's feed for clients without WebSockets (docs/PROTOCOL.md, "A
  // conversation's feed over HTTP"). The first page is read before the response starts,
  // so a non-member gets a plain 404, not a stream.
  .get('/:id/stream', docs.stream, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const { after: queryAfter } = parseParams(FeedStreamQuery, c.req.query());
    const after = resumePosition(c.req.header('last-event-id'), queryAfter);
    if (after === undefined) throw new AppError('invalid_request', 'Last-Event-ID must be a seq (a non-negative integer).');
    const reader = c.get('identity');
    const source = conversation(c.env, id);
    const first = unwrap(await source.feed(reader, after, 0, ''));
    return new Response(countOpen(c.env, 'feed_sse', feedStream(source, { reader, first, after: after ?? first.lastSeq })), { headers: SSE_HEADERS });
  })
  .get('/:id/poll', docs.poll, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const { after, timeoutMs, typing } = parseParams(FeedPollQuery, c.req.query());
    const page = unwrap(await conversation(c.env, id).feed(c.get('identity'), after, timeoutMs ?? FEED.longPollMs, typing));
    return c.json(page, 200, { 'cache-control': 'no-store' });
  })
  .post('/:id/typing', docs.typing, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const { state } = await readJson(c, TypingBody);
    unwrap(await conversation(c.env, id).typing(c.get('identity'), state));
    return c.body(null, 204);
  })
  .post('/:id/messages', docs.send, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const body = await readJson(c, SendMessageBody);
    const ack = unwrap(await conversation(c.env, id).send(c.get('identity'), { cmid: body.cmid, content: body.content, replyToSeq: body.replyToSeq }, trace()));
    record(c.env, { kind: 'send', wire: 'http', outcome: ack.duplicate ? 'duplicate' : 'stored' });
    return c.json(ack, ack.duplicate ? 200 : 201);
  })
  .patch('/:id/messages/:seq', docs.edit, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const seq = parseParams(SeqParam, c.req.param('seq'));
    const { content } = await readJson(c, EditMessageBody);
    return c.json(unwrap(await conversation(c.env, id).edit(c.get('identity'), seq, content, trace())));
  })
  .delete('/:id/messages/:seq', docs.delete, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const seq = parseParams(SeqParam, c.req.param('seq'));
    const { scope } = parseParams(DeleteMessageQuery, c.req.query());
    return c.json(unwrap(await conversation(c.env, id).deleteMessage(c.get('identity'), seq, scope, trace())));
  })
  .post('/:id/messages/:seq/reactions', docs.react, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const seq = parseParams(SeqParam, c.req.param('seq'));
    const { emoji, op } = await readJson(c, ReactBody);
    return c.json(unwrap(await conversation(c.env, id).react(c.get('identity'), seq, emoji, op, trace())));
  })
  .get('/:id/messages/:seq/versions', docs.versions, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const seq = parseParams(SeqParam, c.req.param('seq'));
    return c.json(unwrap(await conversation(c.env, id).versions(c.get('identity'), seq)));
  })
  .get('/:id/messages/:seq/receipts', docs.receiptDetail, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const seq = parseParams(SeqParam, c.req.param('seq'));
    return c.json(unwrap(await conversation(c.env, id).receiptDetail(c.get('identity'), seq)));
  })
  .get('/:id/receipts', docs.receipts, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    return c.json(unwrap(await conversation(c.env, id).receipts(c.get('identity'))));
  })
  .post('/:id/read', docs.read, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const { seq } = await readJson(c, ReadBody);
    const own = unwrap(await conversation(c.env, id).markRead(c.get('identity'), seq));
    return c.json({ deliveredSeq: own.deliveredSeq, readSeq: own.readSeq });
  })
  .patch('/:id/settings', docs.settings, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const { privateReads } = await readJson(c, ConversationSettingsBody);
    return c.json(unwrap(await conversation(c.env, id).setPrivateReads(c.get('identity'), privateReads)));
  })
  .get('/:id/search', docs.search, async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const { q, before, limit } = parseParams(SearchParams, c.req.query());
    return c.json(unwrap(await conversation(c.env, id).search(c.get('identity'), q, { before, limit })));
  });
