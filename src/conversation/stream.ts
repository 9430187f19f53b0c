/**
 * @module conversation/stream
 * A conversation's feed as Server-Sent Events, written by the Worker from the
 * ConversationDO's `feed` call (docs/PROTOCOL.md, "A conversation's feed over HTTP"):
 * `feed_ready`, the events after the reader's seq, then live ones, each `events`
 * message's SSE `id` the last seq in it, so a reconnect with `Last-Event-ID` resumes
 * exactly after what the reader got. Who is typing comes as the chat window's `typing`
 * frames, made from the changes between the views each read returns, with no SSE id (it
 * is not in the log; a reconnect's first read shows who is typing then). Like the device
 * event stream (src/user/stream.ts), the object holds no HTTP state: the Worker asks for
 * the next page once the last one was read.
 */
import { typingChanges, type FeedFrame, type FeedPage, type FeedTyping, type HistoryPage } from '../protocol/index.js';
import { FEED } from '../limits.js';
import type { Result } from '../errors.js';
import type { Identity } from '../env.js';
import { SSE_HEARTBEAT, SSE_RETRY_MS, pullStream, sseMessage } from '../sse.js';
import { log, reason } from '../log.js';

/** What the stream needs from the ConversationDO (its RPC method, narrowed for testing). */
export interface FeedSource {
  feed(reader: Identity, after: number | null, timeoutMs: number, typing?: string): Promise<Result<FeedPage>>;
}

export interface FeedStreamOptions {
  /** The member's device reading (checked by the object on every read: membership, standing). */
  reader: Identity;
  /** The first page (read before the response starts, so a refusal is a plain HTTP error). */
  first: FeedPage;
  /** The seq `first` was read after. */
  after: number;
  now?: () => number;
  heartbeatMs?: number;
  lifetimeMs?: number;
}

const message = (frame: FeedFrame, id?: number): string => sseMessage(frame, id);

function eventsMessage(page: HistoryPage): string {
  const last = page.events.at(-1);
  return last ? message({ type: 'events', conversationId: page.conversationId, events: page.events }, last.seq) : '';
}

/** The SSE body of a conversation's feed, until its lifetime ends or the reader is no longer a member. */
export function feedStream(source: FeedSource, options: FeedStreamOptions): ReadableStream<Uint8Array> {
  const now = options.now ?? Date.now;
  const heartbeatMs = options.heartbeatMs ?? FEED.sseHeartbeatMs;
  const endsAt = now() + (options.lifetimeMs ?? FEED.sseMaxLifetimeMs);
  const { first, reader } = options;
  let after = options.after;
  /** Who is typing as this reader was last told. */
  let typing: FeedTyping = { token: '', typists: [] };
  let started = false;
  let ended = false;

  function advance(page: FeedPage): string {
    after = page.events.at(-1)?.seq ?? after;
    return eventsMessage(page) + typingMessages(page.typing);
  }

  function typingMessages(now: FeedTyping): string {
    if (now.token === typing.token) return '';
    const frames = typingChanges(first.conversationId, typing.typists, now.typists);
    typing = now;
    return frames.map((frame) => message(frame)).join('');
  }

  async function next(): Promise<string | null> {
    if (ended) return null;
    if (!started) {
      started = true;
      const ready = message({ type: 'feed_ready', conversationId: first.conversationId, lastSeq: first.lastSeq });
      return `retry: ${SSE_RETRY_MS}\n\n${ready}${advance(first)}`;
    }
    const remaining = endsAt - now();
    if (remaining <= 0) return null;
    const result = await source.feed(reader, after, Math.min(heartbeatMs, remaining), typing.token);
    if (!result.ok) {
      // No longer a member, device signed out, or refused for now: say why, then end (the reader decides whether to come back).
      ended = true;
      return message({ type: 'error', ...result.error });
    }
    return advance(result.value) || SSE_HEARTBEAT;
  }

  return pullStream(next, (err) => {
    log.error('feed_failed', { conversationId: first.conversationId, reason: reason(err) });
    return message({ type: 'error', code: 'internal', message: 'The feed failed; reconnect.' });
  });
}
