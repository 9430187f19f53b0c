/**
 * @module protocol/feed
 * A conversation's own live feed over plain HTTP, for clients whose network blocks
 * WebSocket upgrades: the `events` frames a chat-window socket gets, read as Server-Sent
 * Events or by long polling, straight from the conversation's object. The device event
 * stream (./inbox.ts) still carries every conversation to the list and unread counts;
 * the feed serves the conversation a user has open without the hop through the member's
 * UserDO, so a fallback wire delivers about as fast as the socket would.
 */
import { z } from 'zod';
import { ErrorFrame, EventsFrame } from './frames.js';
import { ConversationId, Seq } from './ids.js';

/** The feed as a client sees it; the server's own feed settings are in src/limits.ts. */
export const FEED = {
  /** A long poll is held this long at most when nothing is new. */
  longPollMs: 25_000,
  /** A quiet SSE feed writes a comment this often, so clients and proxies see it alive. */
  sseHeartbeatMs: 15_000,
} as const;

const SeqParam = z.coerce.number().pipe(Seq);

/** `GET /v1/conversations/:id/stream?after=`: events after `after` (or `Last-Event-ID`, which wins); without either, only new ones. */
export const FeedStreamQuery = z.strictObject({ after: SeqParam.optional() });

/** `GET /v1/conversations/:id/poll?after=&timeoutMs=`: answers a `HistoryPage` of the events after `after`. */
export const FeedPollQuery = z.strictObject({
  after: SeqParam,
  timeoutMs: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

/** First SSE message of a feed: events after `after` follow, then live ones. */
export const FeedReadyFrame = z.object({ type: z.literal('feed_ready'), conversationId: ConversationId, lastSeq: Seq });

/** What an SSE feed carries: `feed_ready`, then `events` (SSE id: the last seq in it), and `error` before an end the server caused. */
export const FeedFrame = z.discriminatedUnion('type', [FeedReadyFrame, EventsFrame, ErrorFrame]);
export type FeedFrame = z.infer<typeof FeedFrame>;
