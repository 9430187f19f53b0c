/**
 * @module client/conversation
 * One open conversation: a transport's raw stream turned into what an app relies on.
 * Events reach the app exactly once and strictly in seq order (ReorderBuffer); a gap is
 * filled from history at once after (re)connecting and after GAP_FILL_DELAY_MS mid-stream;
 * sends (replies too) go through the outbox, are resent after every reconnect and
 * resolve once. Edits, deletes and reactions are plain HTTP calls: offline they reject
 * with `network`, and the app decides (the web client keeps edits itself and offers
 * reactions and deletes only while online: src/web/components/MessageItem.tsx).
 *
 * Longer than most modules (about 500 lines) because it is the public surface of an open
 * conversation (each method a line or two of HTTP) around one state machine; the parts
 * that stand alone are already out: the outbox, the reorder buffer, the send timers, the
 * timeline fold, the transports, and the encryption codec (only its hook is here).
 */
import { z } from 'zod';
import {
  Ack,
  LIMITS,
  LifecycleResult,
  ReceiptDetail,
  ReceiptsOverview,
  type ConversationEvent,
  type DeleteScopeRequest,
  type MessageContent,
  type MessageEvent,
  type Presence,
  type Watermark,
} from '../protocol/index.js';
import { Emitter } from './emitter.js';
import { ChatError, isRetryable } from './errors.js';
import type { HttpApi } from './http.js';
import type { LiveFrame, SocketTap, TypingSignal } from './live.js';
import { newCmid, type Outbox } from './outbox.js';
import { SendTimers } from './send-timers.js';
import { GAP_FILL_DELAY_MS, ReorderBuffer } from './reorder.js';
import type { PendingSend, Transport, TransportSignal } from './transports/types.js';
import { parseHistoryPage, type IncomingEvent } from './wire.js';

/** `connecting` before the first `open`, `reconnecting` after a loss, `closed` for good. */
export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ConversationEvents extends Record<string, unknown> {
  /** A message, in seq order, exactly once (your own messages too). */
  message: MessageEvent;
  /** Every event this SDK understands (messages, membership changes), in seq order. */
  event: ConversationEvent;
  /** A send entered the outbox (before it reaches the wire): show it at once, marked as sending. `replyToSeq`: a reply. */
  queued: QueuedSend;
  /** A pending send was stored by the server; once per cmid, also for sends restored after a reload. */
  ack: Ack;
  /** A send the server refused for good; it has left the outbox. */
  failed: { cmid: string; error: ChatError };
  status: ConnectionStatus;
  /** An error not tied to one send (e.g. a history fetch that failed). */
  error: ChatError;
  /** Another member's device started or stopped typing (every wire: a socket's frames, a fallback wire's feed). */
  typing: TypingSignal;
  /** Members' receipt watermarks that moved, coalesced by the server (WebSocket transport). */
  receipts: Watermark[];
  /** This user hid message `seq` for themselves, from this or another device. */
  hidden: number;
  /** A member's presence changed (WebSocket transport; otherwise ask `ChatClient.presence()`). */
  presence: Presence;
}

/** A send not acked yet, as the app made it (`replyToSeq` when it is a reply): what a transport carries. */
export type QueuedSend = PendingSend;

/** A page of older (or newer) events, for scrolling. */
export interface HistoryResult {
  events: ConversationEvent[];
  hasMore: boolean;
  lastSeq: number;
}

/** Most pages one gap fill reads before yielding, so a broken server cannot spin it forever. */
const MAX_FILL_PAGES = 10_000;
/** Wait before retrying a send the server refused for a passing reason without saying how long. */
const RETRY_SEND_MS = 1_000;
/**
 * A send handed to a wire that has answered neither an ack nor an error after this long
 * is sent again with the same cmid (the server stores it once whatever happens). A wire
 * can look healthy (pings answered) while one answer is lost; this bounds how long a
 * message can sit as "sending" then.
 */
export const ACK_DEADLINE_MS = 10_000;

/**
 * Content on its way in and out (end-to-end encryption: client/e2ee/codec): sends are
 * encoded before they enter the outbox, events decoded before the app sees them, in order.
 * Null from `decode`: nothing for the app (a message that only carries keys).
 */
export interface EventCodec {
  encode(content: MessageContent, cmid: string): Promise<MessageContent>;
  acked(cmid: string): Promise<void>;
  decode(event: ConversationEvent): Promise<ConversationEvent | null>;
}

export interface ConversationDeps {
  api: HttpApi;
  outbox: Outbox;
  conversationId: string;
  /** The last seq the app has, or `'latest'`: start at the head the wire reports when it first connects. */
  after: number | 'latest';
  createTransport: (signal: (signal: TransportSignal) => void) => Transport;
  /** Where typing, receipts and hidden notices come from, and typing goes (see client/live). */
  live?: SocketTap;
  /** Defaults to ACK_DEADLINE_MS. */
  ackDeadlineMs?: number;
  codec?: EventCodec;
}

/**
 * Returned by `ChatClient.open()`.
 *
 * @example
 * const chat = await client.open(conversationId);
 * chat.on('message', (m) => render(m));
 * const ack = await chat.send('hello');
 */
export class ConversationHandle extends Emitter<ConversationEvents> {
  readonly id: string;
  readonly #api: HttpApi;
  readonly #outbox: Outbox;
  readonly #buffer: ReorderBuffer<IncomingEvent>;
  #transport: Transport;
  /** Bumped when the transport is replaced, so a replaced one's late signals are ignored. */
  #generation = 0;
  readonly #waiters = new Map<string, { resolve: (ack: Ack) => void; reject: (error: ChatError) => void }>();
  #status: ConnectionStatus = 'connecting';
  /** Why the conversation closed, for sends attempted afterwards. */
  #closedWith: ChatError | null = null;
  #filling: Promise<void> | null = null;
  #gapTimer: ReturnType<typeof setTimeout> | null = null;
  /** Ack deadlines and retries of pending sends (ACK_DEADLINE_MS). */
  readonly #timers: SendTimers;
  readonly #live: SocketTap | null;
  /**
   * Opened with `after: 'latest'` and not connected yet: the first `open` sets the start
   * (its `lastSeq`); events before it are the app's to read with `history()`.
   */
  #startAtHead: boolean;
  readonly #codec: EventCodec | null;
  /** What the app sent, by cmid, when the outbox holds it encoded (shown by `pending()`). */
  readonly #plain = new Map<string, MessageContent>();
  /** Decoding is asynchronous: events go through this chain so the app gets them in order. */
  #decoding: Promise<void> = Promise.resolve();

  constructor(deps: ConversationDeps) {
    super();
    this.id = deps.conversationId;
    this.#api = deps.api;
    this.#outbox = deps.outbox;
    this.#live = deps.live ?? null;
    this.#codec = deps.codec ?? null;
    this.#timers = new SendTimers(deps.ackDeadlineMs ?? ACK_DEADLINE_MS, (cmid) => {
      const entry = this.#outbox.pending(this.id).find((e) => e.cmid === cmid);
      if (entry && this.#status === 'open') this.#push(entry);
    });
    this.#buffer = new ReorderBuffer<IncomingEvent>(deps.after === 'latest' ? 0 : deps.after);
    this.#startAtHead = deps.after === 'latest';
    this.#transport = this.#attach(deps.createTransport);
  }

  /** Seq of the last event delivered to the app: store it to resume with `open(id, { after })`. */
  get lastSeq(): number {
    return this.#buffer.lastDelivered;
  }

  get status(): ConnectionStatus {
    return this.#status;
  }

  /** The kind of wire this conversation's stream uses now (e.g. to show "online via SSE"); it changes on fallback. */
  get transport(): Transport['kind'] {
    return this.#transport.kind;
  }

  /** Why the conversation closed (e.g. `conversation_not_found` when access is gone), or null while open. */
  get closedError(): ChatError | null {
    return this.#closedWith;
  }

  /** Sends not yet acked (including ones restored from a persistent outbox), replies with their `replyToSeq`. */
  pending(): QueuedSend[] {
    return this.#outbox.pending(this.id).map(({ cmid, content, replyToSeq }) => ({ cmid, content: this.#plain.get(cmid) ?? content, ...(replyToSeq === undefined ? {} : { replyToSeq }) }));
  }

  /**
   * Sends a message; resolves with the ack once it is stored, or rejects with a
   * `ChatError` carrying the server's code. While offline it waits in the outbox and is
   * resent after reconnecting; a retry never creates a second copy.
   */
  async send(content: string | MessageContent): Promise<Ack> {
    return this.#enqueue(content);
  }

  /** A page of history, e.g. `{ before: oldestShownSeq }` to scroll back. Does not touch the live stream. */
  async history(query: { after?: number; before?: number; limit?: number } = {}): Promise<HistoryResult> {
    const page = await this.#page(query);
    const events: ConversationEvent[] = [];
    for (const { event } of page.events) {
      const decoded = event && this.#codec ? await this.#codec.decode(event) : event;
      if (decoded) events.push(decoded);
    }
    return { events, hasMore: page.hasMore, lastSeq: page.lastSeq };
  }

  /**
   * Sends a reply to message `replyToSeq`: a send like any other (the outbox keeps its
   * `replyToSeq`), so offline it waits and goes once the wire is back, never twice.
   */
  async reply(replyToSeq: number, content: string | MessageContent): Promise<Ack> {
    return this.#enqueue(content, replyToSeq);
  }

  /** Persists a send in the outbox, shows it (`queued`) and hands it to the wire if it is up. */
  async #enqueue(content: string | MessageContent, replyToSeq?: number): Promise<Ack> {
    if (this.#closedWith) throw this.#closedWith;
    const message: MessageContent = typeof content === 'string' ? { type: 'text', text: content } : content;
    const cmid = newCmid();
    let entry;
    try {
      entry = await this.#outbox.add(this.id, await this.#encode(message, cmid), cmid, replyToSeq);
    } catch (cause) {
      if (cause instanceof ChatError) throw cause;
      throw new ChatError('invalid_request', refusedSend(cause), { cause });
    }
    if (this.#codec) this.#plain.set(cmid, message);
    const acked = new Promise<Ack>((resolve, reject) => this.#waiters.set(entry.cmid, { resolve, reject }));
    this.emit('queued', { cmid: entry.cmid, content: message, ...(replyToSeq === undefined ? {} : { replyToSeq }) });
    this.#push(entry);
    return acked;
  }

  /** Replaces the content of your message `seq` (within the edit window). Resolves with the edit event's seq. */
  async edit(seq: number, content: string | MessageContent): Promise<number | null> {
    const message: MessageContent = typeof content === 'string' ? { type: 'text', text: content } : content;
    const body = { content: await this.#encode(message, newCmid()) };
    return (await this.#api.request('PATCH', `${this.#path}/messages/${seq}`, { body, schema: LifecycleResult })).seq;
  }

  /**
   * Deletes message `seq`: `me` hides it on your devices only (resolves null; a `hidden`
   * event follows), `everyone` erases it for all (author within the window, or an admin).
   */
  async delete(seq: number, scope: DeleteScopeRequest = 'everyone'): Promise<number | null> {
    return (await this.#api.request('DELETE', `${this.#path}/messages/${seq}?scope=${scope}`, { schema: LifecycleResult })).seq;
  }

  /** Adds (or with `op: 'remove'`, takes back) your reaction `emoji` on message `seq`. */
  async react(seq: number, emoji: string, op: 'add' | 'remove' = 'add'): Promise<number | null> {
    return (await this.#api.request('POST', `${this.#path}/messages/${seq}/reactions`, { body: { emoji, op }, schema: LifecycleResult })).seq;
  }

  /** Moves your read watermark to `seq` (never back); senders see it as a read receipt. */
  async markRead(seq: number): Promise<{ deliveredSeq: number; readSeq: number }> {
    const schema = z.object({ deliveredSeq: z.number().int(), readSeq: z.number().int() });
    return this.#api.request('POST', `${this.#path}/read`, { body: { seq }, schema });
  }

  /** Every member's delivered and read watermarks now; later changes arrive as `receipts` events. */
  async receipts(): Promise<Watermark[]> {
    return (await this.#api.request('GET', `${this.#path}/receipts`, { schema: ReceiptsOverview })).watermarks;
  }

  /** Who has your message `seq` and who read it, and when ("Read by k of n" and its detail). */
  receiptDetail(seq: number): Promise<ReceiptDetail> {
    return this.#api.request('GET', `${this.#path}/messages/${seq}/receipts`, { schema: ReceiptDetail });
  }

  /**
   * Tells the others you started or stopped typing: a frame on the chat-window socket, or
   * on a fallback wire a post. Best effort: false while not connected (the signal is
   * ephemeral, so it is not queued). The server ends a start by itself after
   * `TYPING.ttlMs` and limits a device to one start per `TYPING.minIntervalMs`.
   */
  typing(state: 'start' | 'stop'): boolean {
    if (this.#status !== 'open') return false;
    if (this.#transport.typing) return this.#transport.typing(state);
    return this.#live?.send({ type: 'typing', state }) ?? false;
  }

  /** Routes a frame from the live tap; called by ChatClient. */
  onLive(frame: LiveFrame): void {
    if (this.#status === 'closed') return;
    if (frame.type === 'typing') this.emit('typing', frame.typing);
    else if (frame.type === 'receipts') this.emit('receipts', frame.watermarks);
    else if (frame.type === 'hidden') this.emit('hidden', frame.seq);
    else this.emit('presence', frame.presence);
  }

  get #path(): string {
    return `/conversations/${encodeURIComponent(this.id)}`;
  }

  /** Stops the stream. Unacked sends reject with `closed` but stay in the outbox for the next `open`. */
  close(): void {
    if (this.#status === 'closed') return;
    this.#transport.close();
    this.#shutdown(new ChatError('closed', 'The conversation was closed.'));
  }

  /** Starts the transport; called by ChatClient.open. */
  start(): void {
    this.#transport.start();
  }

  /**
   * Moves the conversation to another wire (ChatClient does this when the client falls
   * back or upgrades). The reorder buffer and the outbox stay: the new wire's `open`
   * fills what was missed and resends what is pending, under the same cmids.
   */
  replaceTransport(create: (signal: (signal: TransportSignal) => void) => Transport): void {
    if (this.#status === 'closed') return;
    this.#transport.close();
    this.#transport = this.#attach(create);
    if (this.#status === 'open') this.#setStatus('reconnecting');
    this.#transport.start();
  }

  #attach(create: (signal: (signal: TransportSignal) => void) => Transport): Transport {
    const generation = ++this.#generation;
    return create((signal) => {
      if (generation === this.#generation) this.#onSignal(signal);
    });
  }

  #onSignal(signal: TransportSignal): void {
    if (this.#status === 'closed') return;
    switch (signal.type) {
      case 'open':
        if (this.#startAtHead) {
          // Set before the status event, so a listener reading `lastSeq` on the first
          // `open` gets the head: the newest page of history is `before: lastSeq + 1`.
          this.#startAtHead = false;
          this.#buffer.reset(signal.lastSeq);
        }
        this.#setStatus('open');
        this.#buffer.noteLastSeq(signal.lastSeq);
        // Resend in the order the app sent: the server keeps one sender's order.
        for (const entry of this.#outbox.pending(this.id)) this.#push(entry);
        void this.#fill();
        return;
      case 'events':
        // Before the start is known, events are at or before the head the first `open` reports.
        if (signal.conversationId !== this.id || this.#startAtHead) return;
        this.#deliver(this.#buffer.push(signal.events));
        this.#armGapTimer();
        return;
      case 'head':
        if (this.#startAtHead) return;
        this.#buffer.noteLastSeq(signal.lastSeq);
        void this.#fill();
        return;
      case 'ack':
        void this.#onAck(signal.ack);
        return;
      case 'typing':
        this.emit('typing', signal.typing);
        return;
      case 'error':
        if (signal.cmid !== undefined) void this.#onSendError(signal.cmid, new ChatError(signal.error.code, signal.error.message, signal.error));
        else this.emit('error', new ChatError(signal.error.code, signal.error.message, signal.error));
        return;
      case 'down':
        this.#setStatus('reconnecting');
        return;
      case 'closed':
        this.#shutdown(signal.error);
        if (signal.error.code === 'forbidden' || signal.error.code === 'conversation_not_found') {
          // Access is gone: what is pending can never be delivered.
          for (const entry of this.#outbox.pending(this.id)) void this.#outbox.fail(entry.cmid);
        }
        return;
    }
  }

  #push(entry: PendingSend): void {
    if (!this.#transport.send(entry)) return;
    void this.#outbox.attempt(entry.cmid);
    this.#timers.sent(entry.cmid);
  }

  async #onAck(ack: Ack): Promise<void> {
    this.#timers.answered(ack.cmid);
    // The outbox tells a first ack from a repeat (a resend answered twice).
    if (!(await this.#outbox.ack(ack.cmid))) return;
    this.#plain.delete(ack.cmid);
    await this.#codec?.acked(ack.cmid);
    const waiter = this.#waiters.get(ack.cmid);
    this.#waiters.delete(ack.cmid);
    this.emit('ack', ack);
    waiter?.resolve(ack);
  }

  async #onSendError(cmid: string, error: ChatError): Promise<void> {
    this.#timers.answered(cmid);
    if (isRetryable(error.code)) {
      this.#timers.retryAfter(cmid, error.retryAfterMs ?? RETRY_SEND_MS);
      return;
    }
    if (!(await this.#outbox.fail(cmid))) return;
    const waiter = this.#waiters.get(cmid);
    this.#waiters.delete(cmid);
    this.emit('failed', { cmid, error });
    waiter?.reject(error);
  }

  #deliver(ready: IncomingEvent[]): void {
    const codec = this.#codec;
    if (!codec) {
      for (const { event } of ready) this.#emitEvent(event);
      return;
    }
    this.#decoding = this.#decoding
      .then(async () => {
        for (const { event } of ready) this.#emitEvent(event && (await codec.decode(event)));
      })
      .catch((cause: unknown) => this.emit('error', cause instanceof ChatError ? cause : new ChatError('e2ee_store_failed', 'The device could not read or update its encryption state.', { cause })));
  }

  #emitEvent(event: ConversationEvent | null | undefined): void {
    // Undefined: a type this SDK does not know (skipped, but the cursor moved past it); null: nothing to show.
    if (!event || this.#status === 'closed') return;
    this.emit('event', event);
    if (event.type === 'message') this.emit('message', event);
  }

  async #encode(message: MessageContent, cmid: string): Promise<MessageContent> {
    return this.#codec ? this.#codec.encode(message, cmid) : message;
  }

  /** Reads history until nothing is known to be missing. One fill at a time. */
  #fill(): Promise<void> {
    // `.finally` runs after this assignment even when the fill finds nothing to do.
    this.#filling ??= this.#fillPages().finally(() => {
      this.#filling = null;
      this.#armGapTimer();
    });
    return this.#filling;
  }

  async #fillPages(): Promise<void> {
    try {
      for (let pages = 0; pages < MAX_FILL_PAGES && this.#status !== 'closed'; pages++) {
        const gap = this.#buffer.missing();
        if (!gap) return;
        const page = await this.#page({ after: gap.after, limit: LIMITS.maxPageSize });
        this.#buffer.noteLastSeq(page.lastSeq);
        this.#deliver(this.#buffer.push(page.events));
        if (page.events.length === 0) return;
      }
    } catch (error) {
      // Offline again: the next `open` fills at once; otherwise the gap timer retries.
      if (error instanceof ChatError && error.code !== 'network') this.emit('error', error);
    }
  }

  #armGapTimer(): void {
    const since = this.#buffer.gapSince();
    if (since === null || this.#gapTimer || this.#filling || this.#status !== 'open') return;
    const wait = Math.max(0, since + GAP_FILL_DELAY_MS - Date.now());
    this.#gapTimer = setTimeout(() => {
      this.#gapTimer = null;
      const current = this.#buffer.gapSince();
      if (current === null) return;
      // Delivery moved on since arming: the gap may close by itself, so wait again.
      if (Date.now() - current < GAP_FILL_DELAY_MS) this.#armGapTimer();
      else void this.#fill();
    }, wait);
  }

  async #page(query: { after?: number; before?: number; limit?: number }) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const raw = await this.#api.request('GET', `/conversations/${encodeURIComponent(this.id)}/events?${params}`, { schema: z.unknown() });
    const page = parseHistoryPage(raw);
    if (!page) throw new ChatError('invalid_response', 'The history page has an unexpected shape.');
    return page;
  }

  #setStatus(status: ConnectionStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.emit('status', status);
  }

  #shutdown(error: ChatError): void {
    this.#closedWith = error;
    this.#setStatus('closed');
    if (this.#gapTimer) clearTimeout(this.#gapTimer);
    this.#timers.clear();
    for (const waiter of this.#waiters.values()) waiter.reject(error);
    this.#waiters.clear();
  }
}

/** Why the outbox refused a send (its schema's ZodError), in words: the reply's seq, or the message itself. */
function refusedSend(cause: unknown): string {
  if (cause instanceof z.ZodError && cause.issues.some((issue) => issue.path[0] === 'replyToSeq')) return 'A reply names the seq of a message: a whole number from 1.';
  return `The message is not valid (text is 1 to ${LIMITS.maxTextLength} characters, counted in Unicode code points).`;
}
