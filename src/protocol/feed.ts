/**
 * @module protocol/feed
 * A conversation's own live feed over plain HTTP, for clients whose network blocks
 * WebSocket upgrades: the `events` frames a chat-window socket gets, read as Server-Sent
 * Events or by long polling, straight from the conversation's object. The device event
 * stream (./inbox.ts) still carries every conversation to the list and unread counts;
 * the feed serves the conversation a user has open without the hop through the member's
 * UserDO, so a fallback wire delivers about as fast as the socket would.
 *
 * The feed also says who is typing, which is ephemeral (no seq): the SSE feed writes the
 * socket's own `typing` frames, without an SSE id; a long poll's answer carries who is
 * typing now (`typing`) with a token, and a poll that sends the token back is answered as
 * soon as that changes, without its seq cursor moving.
 */
import { z } from 'zod';
import { ErrorFrame, EventsFrame, HistoryPage, TypingEventFrame } from './frames.js';
import { ConversationId, DeviceId, Seq, UserId } from './ids.js';

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

/**
 * Stands for who is typing as one reader sees it: equal tokens, the same typists (and no
 * refresh since). Opaque to clients; the empty string is nobody typing.
 */
export const TypingToken = z.string().max(64);

/**
 * `GET /v1/conversations/:id/poll?after=&timeoutMs=&typing=`: answers a `FeedPage` of the
 * events after `after`. With `typing` (the last answer's token, empty at first) a held
 * poll also answers once who is typing differs from it.
 */
export const FeedPollQuery = z.strictObject({
  after: SeqParam,
  timeoutMs: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  typing: TypingToken.optional(),
});

/** A member's device typing now; it stops by itself after `expiresInMs` unless a later answer lists it again. */
export const Typist = z.object({ userId: UserId, deviceId: DeviceId, expiresInMs: z.number().int().min(0) });
export type Typist = z.infer<typeof Typist>;

/** Who is typing as the reader may see it (never themselves, nor anyone they blocked), and its token. */
export const FeedTyping = z.object({ token: TypingToken, typists: z.array(Typist) });
export type FeedTyping = z.infer<typeof FeedTyping>;

/** A long poll's answer: a history page, and who is typing. */
export const FeedPage = HistoryPage.extend({ typing: FeedTyping });
export type FeedPage = z.infer<typeof FeedPage>;

/** A `typing` frame as the socket writes it (./frames.ts). */
export type TypingSignalFrame = z.infer<typeof TypingEventFrame>;

/**
 * What changed between two views of who is typing, as the socket's `typing` frames: a
 * start for each device typing now (new, or refreshed: its expiry restarts) and a stop for
 * each that is gone. The SSE feed writes these; the SDK makes the same from long polls.
 */
export function typingChanges(conversationId: string, before: readonly Typist[], after: readonly Typist[]): TypingSignalFrame[] {
  const key = (t: Typist) => `${t.userId}\u0000${t.deviceId}`;
  const still = new Set(after.map(key));
  const stops = before
    .filter((t) => !still.has(key(t)))
    .map((t): TypingSignalFrame => ({ type: 'typing', conversationId, userId: t.userId, deviceId: t.deviceId, state: 'stop' }));
  const starts = after.map((t): TypingSignalFrame => ({ type: 'typing', conversationId, userId: t.userId, deviceId: t.deviceId, state: 'start', expiresInMs: t.expiresInMs }));
  return [...stops, ...starts];
}

/** First SSE message of a feed: events after `after` follow, then live ones. */
export const FeedReadyFrame = z.object({ type: z.literal('feed_ready'), conversationId: ConversationId, lastSeq: Seq });

/**
 * What an SSE feed carries: `feed_ready`, then `events` (SSE id: the last seq in it) and
 * `typing` (no id: it is not in the log), and `error` before an end the server caused.
 */
export const FeedFrame = z.discriminatedUnion('type', [FeedReadyFrame, EventsFrame, TypingEventFrame, ErrorFrame]);
export type FeedFrame = z.infer<typeof FeedFrame>;
