/**
 * @module routes/moderation
 * Reporting messages and users (POST /v1/reports) and the caller's block list
 * (/v1/blocks). A block is kept by the blocker's UserDO and enforced where each effect
 * happens: the direct conversation of the two (sends), conversation creation, presence
 * queries and relays, typing.
 */
import { Hono } from 'hono';
import type { AppBindings, Env } from '../env.js';
import { ReportBody, UserId } from '../protocol/index.js';
import { requireAuth } from '../middleware/auth.js';
import { parseParams, readJson } from '../middleware/body.js';
import { existingUserIds } from '../auth/accounts.js';
import { AppError, unwrap } from '../errors.js';
import { directConversationId } from '../ids.js';
import { fileReport } from '../moderation/reports.js';

/** A report may demote its target: the conversations they are in ask for their standing again. */
async function standingMayHaveChanged(env: Env, userId: string): Promise<void> {
  const conversations = await env.USERS.getByName(userId).listConversations();
  await Promise.all(conversations.map((c) => env.CONVERSATIONS.getByName(c.id).standingChanged(userId)));
}

export const reportRoutes = new Hono<AppBindings>().use(requireAuth()).post('/', async (c) => {
  const body = await readJson(c, ReportBody);
  const reporterId = c.get('identity').userId;
  if (body.kind === 'user') {
    if (body.userId === reporterId) throw new AppError('invalid_request', 'You cannot report yourself.');
    if (!(await existingUserIds(c.env.DB, [body.userId])).has(body.userId)) throw new AppError('user_not_found', 'No such user.');
    const receipt = await fileReport(c.env.DB, { reporterId, targetUserId: body.userId, conversationId: null, seq: null, reason: body.reason, content: null });
    if (!receipt.duplicate) await standingMayHaveChanged(c.env, body.userId);
    return c.json(receipt, receipt.duplicate ? 200 : 201);
  }
  // Only a member can report a message, and only what they can see of it.
  const message = unwrap(await c.env.CONVERSATIONS.getByName(body.conversationId).reportedMessage(reporterId, body.seq));
  if (message.authorId === reporterId) throw new AppError('invalid_request', 'You cannot report your own message.');
  const receipt = await fileReport(c.env.DB, {
    reporterId,
    targetUserId: message.authorId,
    conversationId: body.conversationId,
    seq: body.seq,
    reason: body.reason,
    content: message.content,
  });
  if (!receipt.duplicate) await standingMayHaveChanged(c.env, message.authorId);
  return c.json(receipt, receipt.duplicate ? 200 : 201);
});

/** Every conversation of the blocker, and their direct conversation with `target`, gets the new list. */
async function shareBlocks(env: Env, me: string, target: string): Promise<void> {
  const users = env.USERS.getByName(me);
  const [list, conversations] = await Promise.all([users.blockedIds(), users.listConversations()]);
  const ids = new Set([...conversations.map((c) => c.id), await directConversationId(me, target)]);
  await Promise.all([...ids].map((id) => env.CONVERSATIONS.getByName(id).setBlocks(me, list)));
}

export const blockRoutes = new Hono<AppBindings>()
  .use(requireAuth())
  .get('/', async (c) => c.json({ blocks: await c.env.USERS.getByName(c.get('identity').userId).listBlocks() }))
  .put('/:userId', async (c) => {
    const target = parseParams(UserId, c.req.param('userId'));
    const me = c.get('identity').userId;
    if (target === me) throw new AppError('invalid_request', 'You cannot block yourself.');
    if (!(await existingUserIds(c.env.DB, [target])).has(target)) throw new AppError('user_not_found', 'No such user.');
    unwrap(await c.env.USERS.getByName(me).setBlock(target, true));
    await shareBlocks(c.env, me, target);
    return c.body(null, 204);
  })
  .delete('/:userId', async (c) => {
    const target = parseParams(UserId, c.req.param('userId'));
    const me = c.get('identity').userId;
    unwrap(await c.env.USERS.getByName(me).setBlock(target, false));
    await shareBlocks(c.env, me, target);
    return c.body(null, 204);
  });
