/**
 * @module client/transports/stream-conversation
 * A conversation served by the device event stream (SSE or long polling): its events
 * are picked out of the stream, and sends go by `POST /v1/conversations/:id/messages`,
 * which has the socket's semantics (same cmid rules, same ack, same errors). Posts go
 * one at a time, in the order the app sent, so the server keeps the sender's order; a
 * post that fails for a passing reason (network, rate limit, server fault) is retried
 * with the same cmid before the next one goes, so nothing is doubled or reordered.
 *
 * On every (re)open of the stream the conversation's `lastSeq` is read (a one-event
 * history page), so the conversation fills any gap from history at once, as after a
 * socket's `ready`. From that seq on, the conversation's own feed (./feed.ts) is read
 * over the stream's wire, which is about as fast as a chat-window socket; the device
 * event stream's copies of the same events still count (the conversation drops repeats
 * by seq), so a feed that lags or fails costs speed, never events. The feed also says who
 * is typing, and the user's own typing goes by `POST /v1/conversations/:id/typing`.
 */
import { z } from 'zod';
import { Ack, type DeviceEvent } from '../../protocol/index.js';
import { nextDelay } from '../backoff.js';
import { ChatError, isRetryable } from '../errors.js';
import { parseEvents, parseHistoryPage } from '../wire.js';
import { ConversationFeed } from './feed.js';
import type { InboxStream, StreamSignal } from './inbox.js';
import type { PendingSend, Transport, TransportContext, TransportKind } from './types.js';

export function streamConversationTransport(stream: InboxStream, context: TransportContext): Transport {
  return new StreamConversationTransport(stream, context);
}

class StreamConversationTransport implements Transport {
  readonly #stream: InboxStream;
  readonly #ctx: TransportContext;
  readonly #queue: PendingSend[] = [];
  #posting = false;
  /**
   * Sends are taken only after this transport's first `open`: the conversation then
   * hands over everything pending, in order, so a new send never overtakes an older one
   * that was lost with the previous wire.
   */
  #opened = false;
  #closed = false;
  #off: (() => void) | null = null;
  /** Bumped on every stream (re)open, so a slow lastSeq read, or a feed, from an older one is ignored. */
  #generation = 0;
  #feed: ConversationFeed | null = null;
  /** Pending waits between attempts, each with the function that ends it now. */
  readonly #timers = new Map<ReturnType<typeof setTimeout>, () => void>();
  #offWake: (() => void) | null = null;
  /** The typing posts, one after another, so a stop never overtakes its start. */
  #typingPosts: Promise<unknown> = Promise.resolve();

  constructor(stream: InboxStream, context: TransportContext) {
    this.#stream = stream;
    this.#ctx = context;
  }

  get kind(): TransportKind {
    return this.#stream.kind;
  }

  start(): void {
    if (this.#off || this.#closed) return;
    this.#off = this.#stream.on('signal', (signal) => this.#onStream(signal));
    // The network is back: a lastSeq read or a post waiting to retry goes now.
    this.#offWake = this.#ctx.wake?.(() => {
      for (const end of [...this.#timers.values()]) end();
    }) ?? null;
    if (this.#stream.status.state === 'open') void this.#announce();
  }

  send(message: PendingSend): boolean {
    if (this.#closed || !this.#opened) return false;
    if (!this.#queue.some((m) => m.cmid === message.cmid)) this.#queue.push({ cmid: message.cmid, content: message.content, replyToSeq: message.replyToSeq });
    void this.#pump();
    return true;
  }

  typing(state: 'start' | 'stop'): boolean {
    if (this.#closed || !this.#opened) return false;
    const path = `/conversations/${encodeURIComponent(this.#ctx.conversationId)}/typing`;
    // Best effort, as on a socket: a lost or refused signal is not retried (typing again refreshes it).
    this.#typingPosts = this.#typingPosts.then(() => this.#ctx.api.request('POST', path, { body: { state } })).catch(() => undefined);
    return true;
  }

  close(): void {
    this.#closed = true;
    this.#off?.();
    this.#offWake?.();
    this.#feed?.stop();
    this.#feed = null;
    for (const timer of this.#timers.keys()) clearTimeout(timer);
    this.#timers.clear();
  }

  #onStream(signal: StreamSignal): void {
    if (this.#closed) return;
    switch (signal.type) {
      case 'open':
      case 'truncated':
        void this.#announce();
        return;
      case 'events':
        this.#route(signal.events);
        return;
      case 'activity':
        if (signal.conversationId === this.#ctx.conversationId) this.#ctx.signal({ type: 'head', lastSeq: signal.lastSeq });
        return;
      case 'down':
        this.#ctx.signal({ type: 'down', reason: signal.reason });
        return;
      case 'closed':
        this.close();
        this.#ctx.signal({ type: 'closed', error: signal.error });
        return;
      case 'kind':
        return;
    }
  }

  #route(events: DeviceEvent[]): void {
    const id = this.#ctx.conversationId;
    const mine: unknown[] = [];
    for (const e of events) {
      // A device's own events (prekeys_low) belong to no conversation.
      if (e.kind === 'prekeys_low' || e.conversationId !== id) continue;
      if (e.kind === 'event') mine.push(e.event);
      else if (e.role === null) {
        // Removed or left: as a chat window closing with 4003, for good.
        this.close();
        this.#ctx.signal({ type: 'closed', error: new ChatError('conversation_not_found', 'You are no longer a member of this conversation.') });
        return;
      }
    }
    if (mine.length > 0) this.#ctx.signal({ type: 'events', conversationId: id, events: parseEvents(mine) });
  }

  /** Reads the conversation's lastSeq, retrying while the stream stays open, then reports `open`. */
  async #announce(): Promise<void> {
    const generation = ++this.#generation;
    const path = `/conversations/${encodeURIComponent(this.#ctx.conversationId)}/events?limit=1`;
    for (let attempt = 0; !this.#closed && generation === this.#generation; attempt++) {
      try {
        const page = parseHistoryPage(await this.#ctx.api.request('GET', path, { schema: z.unknown() }));
        if (!page) throw new ChatError('invalid_response', 'The history page has an unexpected shape.');
        if (this.#closed || generation !== this.#generation) return;
        this.#opened = true;
        this.#ctx.signal({ type: 'open', lastSeq: page.lastSeq });
        this.#follow(generation, page.lastSeq);
        return;
      } catch (error) {
        if (error instanceof ChatError && !isRetryable(error.code)) {
          this.close();
          this.#ctx.signal({ type: 'closed', error });
          return;
        }
        await this.#wait(nextDelay(attempt, Math.random(), this.#ctx.backoff));
      }
    }
  }

  /** Reads the conversation's feed after `lastSeq` over the stream's wire, replacing an older feed. */
  #follow(generation: number, lastSeq: number): void {
    this.#feed?.stop();
    this.#feed = null;
    const kind = this.#stream.kind;
    if (this.#closed || kind === 'websocket') return;
    const id = this.#ctx.conversationId;
    const current = () => !this.#closed && generation === this.#generation;
    this.#feed = new ConversationFeed({
      api: this.#ctx.api,
      conversationId: id,
      kind,
      timing: this.#stream.timing,
      backoff: this.#ctx.backoff,
      ...(this.#ctx.wake ? { wake: this.#ctx.wake } : {}),
      onEvents: (events) => {
        if (current()) this.#ctx.signal({ type: 'events', conversationId: id, events });
      },
      onTyping: (signals) => {
        if (current()) for (const typing of signals) this.#ctx.signal({ type: 'typing', typing });
      },
      onClosed: (error) => {
        if (!current()) return;
        this.close();
        this.#ctx.signal({ type: 'closed', error });
      },
    });
    this.#feed.start(lastSeq);
  }

  async #pump(): Promise<void> {
    if (this.#posting) return;
    this.#posting = true;
    try {
      for (let attempt = 0; !this.#closed && this.#queue.length > 0; ) {
        const head = this.#queue[0]!;
        const path = `/conversations/${encodeURIComponent(this.#ctx.conversationId)}/messages`;
        try {
          const ack = await this.#ctx.api.request('POST', path, { body: head, schema: Ack });
          this.#queue.shift();
          attempt = 0;
          if (!this.#closed) this.#ctx.signal({ type: 'ack', ack });
        } catch (error) {
          const chatError = error instanceof ChatError ? error : new ChatError('network', String(error));
          if (isRetryable(chatError.code)) {
            await this.#wait(chatError.retryAfterMs ?? nextDelay(attempt++, Math.random(), this.#ctx.backoff));
            continue;
          }
          this.#queue.shift();
          if (!this.#closed) this.#ctx.signal({ type: 'error', cmid: head.cmid, error: { code: chatError.code, message: chatError.message } });
        }
      }
    } finally {
      this.#posting = false;
    }
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        this.#timers.delete(timer);
        resolve();
      };
      const timer = setTimeout(end, ms);
      this.#timers.set(timer, end);
    });
  }
}
