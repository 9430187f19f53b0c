/**
 * @module client/transports/feed
 * Follows one conversation's own feed over HTTP (`GET /v1/conversations/:id/stream`,
 * Server-Sent Events, or `GET /v1/conversations/:id/poll`, long polling), so a
 * conversation open on a fallback wire gets its events from the conversation's object
 * directly instead of through the member's UserDO. It resumes after the last seq it
 * delivered (Last-Event-ID, or the poll's `after`) and never hands out a seq twice.
 * Who is typing comes along without moving that seq: the SSE feed's `typing` frames, or
 * the view on each poll answer, whose token the next poll sends back so a held poll
 * answers when someone starts or stops (the changes become the same typing signals).
 *
 * Passing failures (network, rate limit, server fault, a silent stream) are retried with
 * backoff; a refusal that retrying cannot fix ends the feed through `onClosed`, except a
 * server without the feed routes (`not_found`), which just stops it: the device event
 * stream still carries the conversation.
 */
import { z } from 'zod';
import { FEED, FeedTyping, typingChanges } from '../../protocol/index.js';
import { nextDelay, type BackoffOptions } from '../backoff.js';
import type { WakeSignal } from '../reconnect.js';
import { ChatError, isRetryable } from '../errors.js';
import type { HttpApi } from '../http.js';
import { SseParser } from '../sse.js';
import { parseFeedFrame, parseHistoryPage, typingSignalOf, type IncomingEvent, type TypingSignal } from '../wire.js';
import type { StreamTimingOptions } from './inbox.js';

export type FeedTiming = Pick<StreamTimingOptions, 'sseDeadlineMs' | 'pollHoldMs' | 'pollMarginMs'>;

export interface ConversationFeedOptions {
  api: Pick<HttpApi, 'request' | 'openStream'>;
  conversationId: string;
  kind: 'sse' | 'long-poll';
  timing: FeedTiming;
  backoff: BackoffOptions;
  /** "Try again now" (the browser is online again): a wait between attempts ends at once. */
  wake?: WakeSignal;
  /** New events, in seq order, each after every one delivered before. */
  onEvents(events: IncomingEvent[]): void;
  /** Others started or stopped typing; without it, typing is not asked for. */
  onTyping?(signals: TypingSignal[]): void;
  /** The feed stopped for good (e.g. the user is no longer a member); no more calls follow. */
  onClosed(error: ChatError): void;
}

/**
 * @example
 * const feed = new ConversationFeed({ api, conversationId, kind: 'sse', timing, backoff, onEvents, onClosed });
 * feed.start(lastSeq); // events after lastSeq follow
 * feed.stop();
 */
export class ConversationFeed {
  readonly #o: ConversationFeedOptions;
  readonly #path: string;
  readonly #abort = new AbortController();
  #after = 0;
  /** Who is typing as the last poll answer said (its token goes with the next poll). */
  #typing: FeedTyping = { token: '', typists: [] };
  #started = false;
  /** The current request got an answer (a poll page, or `feed_ready`). */
  #healthy = false;

  constructor(options: ConversationFeedOptions) {
    this.#o = options;
    this.#path = `/conversations/${encodeURIComponent(options.conversationId)}`;
  }

  /** Starts following the events after `after`; once per feed. */
  start(after: number): void {
    if (this.#started || this.#abort.signal.aborted) return;
    this.#started = true;
    this.#after = after;
    void this.#loop();
  }

  /** Stops for good: the request in flight is abandoned and no callback follows. */
  stop(): void {
    this.#abort.abort();
  }

  get #stopped(): boolean {
    return this.#abort.signal.aborted;
  }

  async #loop(): Promise<void> {
    for (let attempt = 0; !this.#stopped; ) {
      this.#healthy = false;
      let wait: number;
      try {
        // Both return only when the next request may go at once.
        await (this.#o.kind === 'sse' ? this.#runSse() : this.#pollOnce());
        attempt = 0;
        continue;
      } catch (error) {
        if (this.#stopped) return;
        const chatError = error instanceof ChatError ? error : new ChatError('network', String(error));
        if (!retryable(chatError)) return this.#end(chatError);
        // A stream that worked for a while and then failed starts its backoff afresh.
        if (this.#healthy) attempt = 0;
        wait = chatError.retryAfterMs ?? nextDelay(attempt++, Math.random(), this.#o.backoff);
      }
      await this.#sleep(wait);
    }
  }

  #deliver(events: IncomingEvent[]): void {
    const fresh = events.filter((e) => e.seq > this.#after);
    if (fresh.length === 0 || this.#stopped) return;
    this.#after = fresh.reduce((max, e) => Math.max(max, e.seq), this.#after);
    this.#o.onEvents(fresh);
  }

  #end(error: ChatError): void {
    this.stop();
    if (error.code !== 'not_found') this.#o.onClosed(error);
  }

  // ── Long polling ─────────────────────────────────────────────────────────────

  /**
   * One long poll: answered with the events after the last one delivered, or empty after
   * the hold. A page with `hasMore` needs nothing special: the next poll goes at once and
   * is answered at once.
   */
  async #pollOnce(): Promise<void> {
    const hold = Math.min(this.#o.timing.pollHoldMs, FEED.longPollMs);
    const query = new URLSearchParams({ after: String(this.#after), timeoutMs: String(hold) });
    if (this.#o.onTyping) query.set('typing', this.#typing.token);
    const raw = await this.#o.api.request('GET', `${this.#path}/poll?${query}`, {
      schema: z.unknown(),
      timeoutMs: hold + this.#o.timing.pollMarginMs,
      signal: this.#abort.signal,
    });
    const page = parseHistoryPage(raw);
    if (!page || page.conversationId !== this.#o.conversationId) throw new ChatError('invalid_response', 'The feed page has an unexpected shape.');
    this.#healthy = true;
    this.#deliver(page.events);
    this.#followTyping(raw);
  }

  /** A poll answer's view of who is typing, told as the changes since the last one (a server without it: nothing). */
  #followTyping(raw: unknown): void {
    const view = FeedTyping.safeParse((raw as { typing?: unknown }).typing);
    if (!view.success || view.data.token === this.#typing.token || this.#stopped) return;
    const changes = typingChanges(this.#o.conversationId, this.#typing.typists, view.data.typists);
    this.#typing = view.data;
    if (changes.length > 0) this.#o.onTyping?.(changes.map(typingSignalOf));
  }

  // ── Server-Sent Events ───────────────────────────────────────────────────────

  /** One SSE connection, read until it ends by itself; throws on anything else (a refusal, an `error` frame, silence). */
  async #runSse(): Promise<void> {
    const signal = this.#abort.signal;
    const headers = { accept: 'text/event-stream', 'last-event-id': String(this.#after) };
    const response = await this.#o.api.openStream(`${this.#path}/stream`, headers, signal);
    if (!response.body) throw new ChatError('network', 'The feed stream has no body.');
    const reader = response.body.getReader();
    const parser = new SseParser();
    const decoder = new TextDecoder();
    let silent: ReturnType<typeof setTimeout> | null = null;
    let timedOut = false;
    let ready = false;
    let refusal: ChatError | null = null;
    const cancel = () => void reader.cancel().catch(() => undefined);
    const arm = () => {
      if (silent) clearTimeout(silent);
      silent = setTimeout(() => {
        timedOut = true;
        cancel();
      }, this.#o.timing.sseDeadlineMs);
    };
    signal.addEventListener('abort', cancel, { once: true });
    arm();
    try {
      reading: for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        for (const message of parser.push(decoder.decode(value, { stream: true }))) {
          const frame = parseFeedFrame(message.data);
          if (frame.type === 'feed_ready') ready = this.#healthy = true;
          else if (frame.type === 'events' && frame.conversationId === this.#o.conversationId) this.#deliver(frame.events);
          else if (frame.type === 'typing' && frame.conversationId === this.#o.conversationId && !this.#stopped) this.#o.onTyping?.([frame.typing]);
          else if (frame.type === 'error') {
            refusal = new ChatError(frame.error.code, frame.error.message, frame.error);
            break reading;
          }
        }
      }
    } catch {
      // A cut connection: reconnect after the last seq delivered.
    } finally {
      if (silent) clearTimeout(silent);
      signal.removeEventListener('abort', cancel);
    }
    if (refusal) {
      cancel();
      throw refusal;
    }
    if (timedOut) throw new ChatError('network', 'The feed stream went silent.');
    // The feed ends by itself after its lifetime: resume at once. A stream that ended
    // before it even said `feed_ready` is failing, and waits like any failure.
    if (!ready) throw new ChatError('network', 'The feed stream ended before it was ready.');
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        offWake?.();
        this.#abort.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      const offWake = this.#o.wake?.(done);
      this.#abort.signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** Whether the same request can succeed later; server faults (5xx) of any code count. */
function retryable(error: ChatError): boolean {
  return isRetryable(error.code) || (error.status !== undefined && error.status >= 500);
}
