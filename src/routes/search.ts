/**
 * @module routes/search
 * Search across all of the caller's conversations. Each conversation searches its own
 * index (and checks membership itself); this route fans in from at most
 * `SEARCH_FAN_IN.maxConversations` of them, a few at a time, and keeps the newest hits.
 * Conversations the server cannot search (end-to-end encrypted) are listed as such.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppBindings } from '../env.js';
import { CrossSearchResult, LIMITS } from '../protocol/index.js';
import { doc } from '../openapi/describe.js';
import { SEARCH_FAN_IN } from '../limits.js';
import { requireAuth } from '../middleware/auth.js';
import { parseParams } from '../middleware/body.js';
import { AppError, unwrap } from '../errors.js';
import { toMatchQuery } from '../conversation/search.js';
import { conversationStub } from '../placement.js';
import { trace } from '../log.js';

const CrossSearchParams = z.strictObject({
  q: z.string().min(1).max(LIMITS.maxSearchQueryLength),
  limit: z.coerce.number().int().min(1).max(LIMITS.maxSearchPageSize).optional(),
});

/** The route's OpenAPI entry (src/openapi/describe.ts): the query schema is the one the handler reads. */
const searchDoc = doc({
  tag: 'search',
  summary: 'Search your conversations',
  description: 'Newest hits first, across at most 50 conversations (most recently joined first, 10 at a time); `unavailable` lists end-to-end encrypted ones.',
  query: CrossSearchParams,
  responses: { 200: { description: 'The hits and what was covered.', schema: CrossSearchResult } },
});

export const searchRoutes = new Hono<AppBindings>().use(requireAuth()).get('/', searchDoc, async (c) => {
  const { q, limit = LIMITS.defaultSearchPageSize } = parseParams(CrossSearchParams, c.req.query());
  if (toMatchQuery(q) === null) throw new AppError('invalid_request', 'A search needs at least one word.');
  const identity = c.get('identity');
  const userId = identity.userId;
  const all = await c.env.USERS.getByName(userId).listConversations(trace());
  const chosen = all.slice(0, SEARCH_FAN_IN.maxConversations);
  const out: CrossSearchResult = { results: [], searched: 0, skipped: all.length - chosen.length, unavailable: [] };
  for (let i = 0; i < chosen.length; i += SEARCH_FAN_IN.concurrency) {
    const batch = chosen.slice(i, i + SEARCH_FAN_IN.concurrency);
    const pages = await Promise.all(batch.map((conv) => conversationStub(c.env, conv.id).search(identity, q, { limit })));
    pages.forEach((page, n) => {
      const id = batch[n]!.id;
      if (page.ok) {
        out.searched++;
        for (const message of page.value.results) out.results.push({ conversationId: id, message });
      } else if (page.error.code === 'search_unavailable') {
        out.unavailable.push(id);
      } else if (page.error.code !== 'conversation_not_found') {
        // The inbox can lag a removal by a moment; anything else is a real failure.
        unwrap(page);
      }
    });
  }
  out.results.sort((a, b) => b.message.ts - a.message.ts || b.message.seq - a.message.seq);
  out.results = out.results.slice(0, limit);
  return c.json(out);
});
