/**
 * @module routes/conversations
 * Conversations: create (direct or group), list, inspect, manage members, send over
 * HTTP, page history, open a chat-window WebSocket or follow its feed (SSE, long polling)
 * and say you are typing without one; receipts, edits, deletes, reactions and search
 * within one conversation. Every call is answered by the
 * conversation's own Durable Object, which checks membership itself. What each route
 * accepts and answers, as the OpenAPI document says it, is in ./conversation-api.ts.
 */
import { Hono, type Context } from 'hono';
import type { AppBindings, Env } from '../env.js';
import {
  AddMemberBody,
  CLOSE_CODES,
  ConversationId,
  ConversationSettingsBody,
  CreateConversationBody,
  DeleteMessageQuery,
  EditMessageBody,
  FEED,
  FeedPollQuery,
  FeedStreamQuery,
  HistoryQuery,
  MembersQuery,
  ReactBody,
  ReadBody,
  SendMessageBody,
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
import { answerUpgrade, authenticateUpgrade, forwardUpgrade } from './upgrade.js';
import { SSE_HEADERS, resumePosition } from '../sse.js';
import { feedStream } from '../conversation/stream.js';
import { TOO_MANY_ENCRYPTED, memberCap } from '../conversation/membership.js';
import { TIER_LIMITS } from '../ratelimit/rules.js';
import { take } from '../ratelimit/limiters.js';
import { countOpen, record } from '../metrics.js';
import { conversationStub, placedId, relayStub } from '../placement.js';
import { trace } from '../log.js';
import { HistoryParams, SeqParam, SearchParams, docs } from './conversation-api.js';

/** The conversation's object, wherever it was placed (src/placement.ts). */
function conversation(env: Env, id: string) {
  return conversationStub(env, id);
}

/** Adds, removals and role changes are limited per user, across conversations (TIER_LIMITS.memberChanges). */
function memberChange(c: Context<AppBindings>): Promise<void> {
  const { userId } = c.get('identity');
  return take(c.env, `user:members:${userId}`, TIER_LIMITS[c.get('tier')].memberChanges, 'member changes');
}

/** A chat window's upgrade: to the conversation, or to the relay it names. */
async function openWindow(c: Context<AppBindings>): Promise<Response> {
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
}

export const conversationRoutes = new Hono<AppBindings>()
  // The upgrade authenticates with a ticket or a bearer subprotocol, not the Authorization
  // header (browsers cannot set it on a WebSocket), so it comes before requireAuth.
  .get('/:id/ws', docs.ws, async (c) => answerUpgrade(c.req.raw, await openWindow(c)))
  .use(requireAuth())
  .post('/', docs.create, async (c) => {
    const body = await readJson(c, CreateConversationBody);
    const creator = c.get('identity');
    const others = body.kind === 'direct' ? [body.peerId] : [...new Set(body.memberIds)].filter((id) => id !== creator.userId);
    if (body.encrypted && others.length + 1 > memberCap(true)) throw new AppError('too_many_members', TOO_MANY_ENCRYPTED);
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
    // An end-to-end encrypted direct conversation is its own conversation, beside any plain one (src/ids.ts).
    const id = placedId(body.kind === 'direct' ? await directConversationId(creator.userId, body.peerId, body.encrypted) : newGroupId(), body.placement);
    const title = body.kind === 'group' ? body.title : null;
    const broadcast = body.kind === 'group' && body.broadcast;
    const create = { id, kind: body.kind, title, creator, memberIds: others, blockLists, encrypted: body.encrypted, broadcast };
    const info = unwrap(await conversationStub(c.env, id, body.placement).create(create));
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
    const query = parseParams(MembersQuery, c.req.query());
    return c.json(unwrap(await conversation(c.env, id).members(c.get('identity'), query)));
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
    const page = unwrap(await conversation(c.env, id).historyJson(c.get('identity'), query));
    return c.body(page, 200, { 'Content-Type': 'application/json' });
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
