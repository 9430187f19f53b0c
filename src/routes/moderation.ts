/**
 * @module routes/moderation
 * Reporting messages and users (POST /v1/reports) and the caller's block list
 * (/v1/blocks). A block is kept by the blocker's UserDO, which passes the whole list to
 * every conversation of theirs (and the direct conversation of the two) where each effect
 * is enforced; a report is stored in D1 for moderators and told to the reported user's
 * UserDO, where it counts toward a demotion at once.
 */
import { Hono } from 'hono';
import type { AppBindings, Env } from '../env.js';
import { Block, ReportBody, ReportReceipt, UserId } from '../protocol/index.js';
import { z } from 'zod';
import { doc } from '../openapi/describe.js';
import { requireAuth } from '../middleware/auth.js';
import { parseParams, readJson } from '../middleware/body.js';
import { existingUserIds } from '../auth/accounts.js';
import { standingCache } from '../auth/standing.js';
import { AppError, unwrap } from '../errors.js';
import { fileReport, type NewReport } from '../moderation/reports.js';
import { TIER_LIMITS } from '../ratelimit/rules.js';
import { take } from '../ratelimit/limiters.js';
import { conversationStub } from '../placement.js';
import { trace } from '../log.js';

/**
 * Stores the report, and tells the target's UserDO (and this isolate's cache, and the
 * conversations they are in, which keep their devices' standing) so a demotion takes
 * effect now.
 */
/** Each route's OpenAPI entry (src/openapi/describe.ts): the schemas are those the handler reads. */
const docs = {
  report: doc({
    tag: 'moderation',
    summary: 'Report a message or a user',
    description: 'Only a member can report a message; nobody can report themselves or their own message. The third distinct reporter within 7 days demotes the account to the `new` tier.',
    body: ReportBody,
    responses: {
      201: { description: 'Filed.', schema: ReportReceipt },
      200: { description: 'The same report again (`duplicate: true`).', schema: ReportReceipt },
    },
    errors: ['conversation_not_found', 'user_not_found', 'rate_limited'],
  }),
  blocks: doc({
    tag: 'moderation',
    summary: 'Your blocks',
    description: 'Whom you blocked, and when.',
    responses: { 200: { description: 'The blocks.', schema: z.object({ blocks: z.array(Block) }) } },
  }),
  block: doc({
    tag: 'moderation',
    summary: 'Block a user',
    description: 'One-way, at most 1,000; what the blocked user writes reaches you hidden or withheld (PROTOCOL.md, "Blocks").',
    params: { userId: UserId },
    responses: { 204: { description: 'Blocked.' } },
    errors: ['user_not_found', 'conflict'],
  }),
  unblock: doc({
    tag: 'moderation',
    summary: 'Unblock a user',
    description: 'History shows their messages again; copies already delivered stay as they were.',
    params: { userId: UserId },
    responses: { 204: { description: 'Unblocked.' } },
  }),
};

async function report(env: Env, filed: NewReport): Promise<{ reportId: string; duplicate: boolean }> {
  const now = Date.now();
  const receipt = await fileReport(env.DB, filed, now);
  if (!receipt.duplicate) {
    const target = env.USERS.getByName(filed.targetUserId);
    await target.noteReport(filed.reporterId, now);
    standingCache.forget(filed.targetUserId);
    const conversations = await target.listConversations(trace());
    await Promise.all(conversations.map((c) => conversationStub(env, c.id).standingChanged(filed.targetUserId)));
  }
  return receipt;
}

export const reportRoutes = new Hono<AppBindings>().use(requireAuth()).post('/', docs.report, async (c) => {
  const body = await readJson(c, ReportBody);
  const reporterId = c.get('identity').userId;
  await take(c.env, `user:reports:${reporterId}`, TIER_LIMITS[c.get('tier')].reports, 'reports');
  if (body.kind === 'user') {
    if (body.userId === reporterId) throw new AppError('invalid_request', 'You cannot report yourself.');
    if (!(await existingUserIds(c.env.DB, [body.userId])).has(body.userId)) throw new AppError('user_not_found', 'No such user.');
    const receipt = await report(c.env, { reporterId, targetUserId: body.userId, conversationId: null, seq: null, reason: body.reason, content: null });
    return c.json(receipt, receipt.duplicate ? 200 : 201);
  }
  // Only a member can report a message, and only what they can see of it.
  const message = unwrap(await conversationStub(c.env, body.conversationId).reportedMessage(reporterId, body.seq));
  if (message.authorId === reporterId) throw new AppError('invalid_request', 'You cannot report your own message.');
  const receipt = await report(c.env, {
    reporterId,
    targetUserId: message.authorId,
    conversationId: body.conversationId,
    seq: body.seq,
    reason: body.reason,
    content: message.content,
  });
  return c.json(receipt, receipt.duplicate ? 200 : 201);
});

export const blockRoutes = new Hono<AppBindings>()
  .use(requireAuth())
  .get('/', docs.blocks, async (c) => c.json({ blocks: await c.env.USERS.getByName(c.get('identity').userId).listBlocks() }))
  .put('/:userId', docs.block, async (c) => {
    const target = parseParams(UserId, c.req.param('userId'));
    const me = c.get('identity').userId;
    if (target === me) throw new AppError('invalid_request', 'You cannot block yourself.');
    if (!(await existingUserIds(c.env.DB, [target])).has(target)) throw new AppError('user_not_found', 'No such user.');
    unwrap(await c.env.USERS.getByName(me).setBlock(target, true, trace()));
    return c.body(null, 204);
  })
  .delete('/:userId', docs.unblock, async (c) => {
    const target = parseParams(UserId, c.req.param('userId'));
    unwrap(await c.env.USERS.getByName(c.get('identity').userId).setBlock(target, false, trace()));
    return c.body(null, 204);
  });
