/**
 * @module routes/conversations
 * Conversations: create (direct or group), list, inspect, manage members, send over
 * HTTP, page history, open a chat-window WebSocket; receipts, edits, deletes, reactions
 * and search within one conversation. Every call is answered by the
 * conversation's own Durable Object, which checks membership itself.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
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
  LIMITS,
  ReactBody,
  ReadBody,
  SendMessageBody,
  Seq,
  SetRoleBody,
  UserId,
} from '../protocol/index.js';
import { requireAuth } from '../middleware/auth.js';
import { parseParams, readJson } from '../middleware/body.js';
import { AppError, unwrap } from '../errors.js';
import { directConversationId, newGroupId } from '../ids.js';
import { existingUserIds } from '../auth/accounts.js';
import { rejectSocket } from '../objects/sockets.js';
import { authenticateUpgrade, forwardUpgrade } from './upgrade.js';
import { SSE_HEADERS, resumePosition } from '../sse.js';
import { feedStream } from '../conversation/stream.js';
import { TIER_LIMITS } from '../ratelimit/rules.js';
import { take } from '../ratelimit/limiters.js';

function conversation(env: Env, id: string) {
  return env.CONVERSATIONS.getByName(id);
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

export const conversationRoutes = new Hono<AppBindings>()
  // The upgrade authenticates with a single-use ticket, not a bearer header (browsers
  // cannot set headers on a WebSocket), so it comes before requireAuth.
  .get('/:id/ws', async (c) => {
    const id = ConversationId.safeParse(c.req.param('id'));
    const identity = await authenticateUpgrade(c, () =>
      id.success ? null : rejectSocket({ code: 'conversation_not_found', message: 'No such conversation.' }, CLOSE_CODES.forbidden),
    );
    if (identity instanceof Response) return identity;
    return forwardUpgrade(conversation(c.env, id.data!), identity, 'https://conversation.internal/ws');
  })
  .use(requireAuth())
  .post('/', async (c) => {
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
    const id = body.kind === 'direct' ? await directConversationId(creator.userId, body.peerId) : newGroupId();
    const title = body.kind === 'group' ? body.title : null;
    const info = unwrap(await conversation(c.env, id).create({ id, kind: body.kind, title, creator, memberIds: others, blockLists }));
    return c.json({ conversation: info }, 201);
  })
  .get('/', async (c) => {
    const conversations = await c.env.USERS.getByName(c.get('identity').userId).listConversations();
    return c.json({ conversations });
  })
  .get('/:id', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    return c.json({ conversation: unwrap(await conversation(c.env, id).info(c.get('identity'))) });
  })
  .get('/:id/members', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const info = unwrap(await conversation(c.env, id).info(c.get('identity')));
    return c.json({ members: info.members });
  })
  .post('/:id/members', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const body = await readJson(c, AddMemberBody);
    if (!(await existingUserIds(c.env.DB, [body.userId])).has(body.userId)) throw new AppError('user_not_found', 'No such user.');
    await memberChange(c);
    const info = unwrap(await conversation(c.env, id).addMember(c.get('identity'), body.userId, body.role));
    return c.json({ conversation: info }, 201);
  })
  .patch('/:id/members/:userId', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const userId = parseParams(UserId, c.req.param('userId'));
    const { role } = await readJson(c, SetRoleBody);
    await memberChange(c);
    return c.json({ member: unwrap(await conversation(c.env, id).setRole(c.get('identity'), userId, role)) });
  })
  .delete('/:id/members/:userId', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const userId = parseParams(UserId, c.req.param('userId'));
    await memberChange(c);
    unwrap(await conversation(c.env, id).removeMember(c.get('identity'), userId));
    return c.body(null, 204);
  })
  .get('/:id/events', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const query = parseParams(HistoryQuery, parseParams(HistoryParams, c.req.query()));
    return c.json(unwrap(await conversation(c.env, id).history(c.get('identity'), query)));
  })
  // The conversation's feed for clients without WebSockets (docs/PROTOCOL.md, "A
  // conversation's feed over HTTP"). The first page is read before the response starts,
  // so a non-member gets a plain 404, not a stream.
  .get('/:id/stream', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const { after: queryAfter } = parseParams(FeedStreamQuery, c.req.query());
    const after = resumePosition(c.req.header('last-event-id'), queryAfter);
    if (after === undefined) throw new AppError('invalid_request', 'Last-Event-ID must be a seq (a non-negative integer).');
    const reader = c.get('identity');
    const source = conversation(c.env, id);
    const first = unwrap(await source.feed(reader, after, 0));
    return new Response(feedStream(source, { reader, first, after: after ?? first.lastSeq }), { headers: SSE_HEADERS });
  })
  .get('/:id/poll', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const { after, timeoutMs } = parseParams(FeedPollQuery, c.req.query());
    const page = unwrap(await conversation(c.env, id).feed(c.get('identity'), after, timeoutMs ?? FEED.longPollMs));
    return c.json(page, 200, { 'cache-control': 'no-store' });
  })
  .post('/:id/messages', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const body = await readJson(c, SendMessageBody);
    const ack = unwrap(await conversation(c.env, id).send(c.get('identity'), { cmid: body.cmid, content: body.content, replyToSeq: body.replyToSeq }));
    return c.json(ack, ack.duplicate ? 200 : 201);
  })
  .patch('/:id/messages/:seq', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const seq = parseParams(SeqParam, c.req.param('seq'));
    const { content } = await readJson(c, EditMessageBody);
    return c.json(unwrap(await conversation(c.env, id).edit(c.get('identity'), seq, content)));
  })
  .delete('/:id/messages/:seq', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const seq = parseParams(SeqParam, c.req.param('seq'));
    const { scope } = parseParams(DeleteMessageQuery, c.req.query());
    return c.json(unwrap(await conversation(c.env, id).deleteMessage(c.get('identity'), seq, scope)));
  })
  .post('/:id/messages/:seq/reactions', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const seq = parseParams(SeqParam, c.req.param('seq'));
    const { emoji, op } = await readJson(c, ReactBody);
    return c.json(unwrap(await conversation(c.env, id).react(c.get('identity'), seq, emoji, op)));
  })
  .get('/:id/messages/:seq/versions', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const seq = parseParams(SeqParam, c.req.param('seq'));
    return c.json(unwrap(await conversation(c.env, id).versions(c.get('identity'), seq)));
  })
  .get('/:id/messages/:seq/receipts', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const seq = parseParams(SeqParam, c.req.param('seq'));
    return c.json(unwrap(await conversation(c.env, id).receiptDetail(c.get('identity'), seq)));
  })
  .get('/:id/receipts', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    return c.json(unwrap(await conversation(c.env, id).receipts(c.get('identity'))));
  })
  .post('/:id/read', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const { seq } = await readJson(c, ReadBody);
    const own = unwrap(await conversation(c.env, id).markRead(c.get('identity'), seq));
    return c.json({ deliveredSeq: own.deliveredSeq, readSeq: own.readSeq });
  })
  .patch('/:id/settings', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const { privateReads } = await readJson(c, ConversationSettingsBody);
    return c.json(unwrap(await conversation(c.env, id).setPrivateReads(c.get('identity'), privateReads)));
  })
  .get('/:id/search', async (c) => {
    const id = parseParams(ConversationId, c.req.param('id'));
    const { q, before, limit } = parseParams(SearchParams, c.req.query());
    return c.json(unwrap(await conversation(c.env, id).search(c.get('identity'), q, { before, limit })));
  });
