/**
 * @module client/transports/inbox
 * The device event stream: one per ChatClient, carrying the events of all the user's
 * conversations, over the inbox WebSocket, Server-Sent Events or long polling, chosen
 * by the fallback state machine (./fallback.ts). Whatever the wire, it resumes after the
 * last cursor it delivered (never a time window), drops events it already delivered,
 * and acknowledges by cursor: a socket `ack` frame, `POST /v1/inbox/ack` for SSE (and
 * Last-Event-ID on reconnect), the next poll's `cursor` for long polling.
 *
 * Half-open detection per wire: the socket's ping with an answer deadline; for SSE, no
 * byte (events or heartbeat comments, every INBOX.sseHeartbeatMs) within
 * `sseDeadlineMs`; for long polling, a request not answered within its hold plus a margin.
 * Each wire's connection is in ./inbox-wires.ts; this module picks the wire, reconnects,
 * delivers and acknowledges.
 */
import { INBOX, type DeviceEvent } from '../../protocol/index.js';
import type { BackoffOptions } from '../backoff.js';
import { ReconnectPolicy, type WakeSignal } from '../reconnect.js';
import { Emitter } from '../emitter.js';
import { ChatError } from '../errors.js';
import type { HttpApi } from '../http.js';
import type { IncomingDeviceEvent, IncomingInboxFrame } from '../wire.js';
import {
  FALLBACK_DEFAULTS,
  afterConnected,
  afterFailure,
  afterNetworkBack,
  afterUpgradeProbe,
  currentKind,
  initialFallback,
  upgradeDue,
  type FallbackOptions,
  type FallbackState,
} from './fallback.js';
import { isTerminal, runPoll, runSocket, runSse, type Ending, type WireContext, type WireHandlers } from './inbox-wires.js';
import type { KeepaliveOptions, TransportKind, WebSocketLike } from './types.js';

/** Timing of the HTTP wires. */
export interface StreamTimingOptions {
  /** An SSE stream silent this long is dead (the server writes a heartbeat every 15 s). */
  readonly sseDeadlineMs: number;
  /** How long a long poll asks the server to hold (at most INBOX.longPollMs). */
  readonly pollHoldMs: number;
  /** Extra wait past the hold before a long poll counts as lost. */
  readonly pollMarginMs: number;
  /** Acks over `POST /v1/inbox/ack` are batched for this long. */
  readonly ackDelayMs: number;
}

export const STREAM_TIMING_DEFAULTS: StreamTimingOptions = {
  sseDeadlineMs: INBOX.sseHeartbeatMs + 10_000,
  pollHoldMs: INBOX.longPollMs,
  pollMarginMs: 10_000,
  ackDelayMs: 1_000,
};

/** What the stream tells its listeners (the conversation transports, the app). */
export type StreamSignal =
  /** Connected (again) over `kind`: anything missed while away must be read from history. */
  | { type: 'open'; kind: TransportKind }
  | { type: 'events'; events: DeviceEvent[] }
  /** Events this device had not acknowledged were dropped: catch up from history. */
  | { type: 'truncated' }
  | { type: 'activity'; conversationId: string; lastSeq: number }
  | { type: 'down'; reason: string }
  /** The wire changed (a fallback, or an upgrade back). */
  | { type: 'kind'; kind: TransportKind }
  | { type: 'closed'; error: ChatError };

/** What an app may show: which wire is in use and whether it is live. */
export interface StreamStatus {
  kind: TransportKind;
  state: 'connecting' | 'open' | 'reconnecting' | 'closed';
}

export interface InboxStreamOptions {
  api: HttpApi;
  WebSocket: WebSocketLike;
  order: readonly TransportKind[];
  forced: TransportKind | null;
  backoff: BackoffOptions;
  keepalive: KeepaliveOptions;
  fallback: FallbackOptions;
  timing: StreamTimingOptions;
  /** Resume after this cursor: events up to it were handed to the app already (by an earlier stream). */
  after?: number;
  /** "Try again now" (the browser is online again): a wait between attempts ends at once. */
  wake?: WakeSignal;
}

export class InboxStream extends Emitter<{ signal: StreamSignal; status: StreamStatus }> {
  readonly #o: InboxStreamOptions;
  #state: FallbackState;
  #status: StreamStatus;
  /** The highest cursor handed to listeners: resume after it, drop what is not past it. */
  #cursor = 0;
  #acked = 0;
  #running = false;
  #stopped = false;
  #connection: AbortController | null = null;
  #upgradeTimer: ReturnType<typeof setInterval> | null = null;
  #ackTimer: ReturnType<typeof setTimeout> | null = null;
  #wake: (() => void) | null = null;
  #offWake: (() => void) | null = null;
  /** Between attempts (in `#sleep`), where a wake-up may cut the wait short. */
  #waiting = false;
  readonly #reconnect: ReconnectPolicy;
  /** What each connection (./inbox-wires.ts) reads and moves of this stream. */
  readonly #wire: WireContext;

  constructor(options: InboxStreamOptions) {
    super();
    this.#o = { ...options, fallback: { ...FALLBACK_DEFAULTS, ...options.fallback } };
    this.#state = initialFallback(options.order, options.forced, Date.now());
    this.#status = { kind: currentKind(this.#state), state: 'connecting' };
    this.#cursor = options.after ?? 0;
    this.#wire = {
      api: options.api,
      WebSocket: options.WebSocket,
      keepalive: options.keepalive,
      timing: options.timing,
      cursor: () => this.#cursor,
      acked: () => this.#acked,
      setAcked: (cursor) => {
        this.#acked = Math.max(this.#acked, cursor);
      },
    };
    this.#reconnect = new ReconnectPolicy(options.backoff);
  }

  /** The highest cursor handed to listeners: what a later stream resumes after. */
  get cursor(): number {
    return this.#cursor;
  }

  get status(): StreamStatus {
    return this.#status;
  }

  get kind(): TransportKind {
    return currentKind(this.#state);
  }

  /** The HTTP wires' timing, which a conversation's feed on the same wire follows too. */
  get timing(): StreamTimingOptions {
    return this.#o.timing;
  }

  start(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    this.#offWake = this.#o.wake?.(() => {
      this.#state = afterNetworkBack(this.#state);
      // Only a wait between attempts is cut short; a live connection keeps its own deadlines.
      if (!this.#waiting) return;
      this.#reconnect.reset();
      this.#wake?.();
    }) ?? null;
    this.#upgradeTimer = setInterval(() => void this.#maybeUpgrade(), Math.max(1_000, this.#o.fallback.upgradeAfterMs / 4));
    void this.#loop();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#offWake?.();
    if (this.#upgradeTimer) clearInterval(this.#upgradeTimer);
    if (this.#ackTimer) clearTimeout(this.#ackTimer);
    this.#connection?.abort();
    this.#wake?.();
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      const kind = currentKind(this.#state);
      const connection = new AbortController();
      this.#connection = connection;
      let ending: Ending;
      try {
        ending = await this.#run(kind, connection.signal);
      } catch (error) {
        if (error instanceof ChatError && isTerminal(error)) return this.#terminate(error);
        ending = { ready: false, reason: error instanceof Error ? error.message : String(error) };
        // Refused for now (rate-limited, say): not before the server says.
        if (error instanceof ChatError && error.retryAfterMs) ending.notBeforeMs = error.retryAfterMs;
      }
      connection.abort();
      if (this.#stopped) return;
      if (currentKind(this.#state) !== kind) {
        // Upgraded while this connection ran: switch at once.
        this.#reconnect.reset();
        continue;
      }
      if (!ending.ready && ending.reachable) {
        this.#state = afterFailure(this.#state, Date.now(), this.#o.fallback);
        if (currentKind(this.#state) !== kind) {
          this.#reconnect.reset();
          this.#emitKind();
          continue;
        }
      }
      this.#setStatus('reconnecting');
      this.emit('signal', { type: 'down', reason: ending.reason });
      // A stream that ended by itself (its lifetime) is resumed at once.
      if (!ending.again) await this.#sleep(Math.max(ending.notBeforeMs ?? 0, this.#reconnect.next(Math.random())));
    }
  }

  #run(kind: TransportKind, signal: AbortSignal): Promise<Ending> {
    let ready = false;
    const handlers: WireHandlers = {
      ready: () => {
        if (ready) return;
        ready = true;
        this.#reconnect.up();
        this.#state = afterConnected(this.#state);
        this.#setStatus('open');
        this.emit('signal', { type: 'open', kind });
      },
      frame: (frame) => this.#onFrame(frame, kind),
    };
    const run = kind === 'websocket' ? runSocket(this.#wire, signal, handlers) : kind === 'sse' ? runSse(this.#wire, signal, handlers) : runPoll(this.#wire, signal, handlers);
    return run.then((ending) => ({ ...ending, ready: ending.ready || ready, reachable: Boolean(ending.reachable) }));
  }

  #onFrame(frame: IncomingInboxFrame, kind: TransportKind): void {
    switch (frame.type) {
      case 'deliver':
        this.#deliver(frame.events, kind);
        return;
      case 'queue_truncated':
        this.emit('signal', { type: 'truncated' });
        return;
      case 'activity':
        this.emit('signal', { type: 'activity', conversationId: frame.conversationId, lastSeq: frame.lastSeq });
        return;
      default:
        return;
    }
  }

  #deliver(events: IncomingDeviceEvent[], kind: TransportKind): void {
    const fresh = events.filter((e) => e.cursor > this.#cursor);
    const last = fresh.at(-1);
    if (!last) return;
    this.#cursor = last.cursor;
    const known = fresh.flatMap((e) => (e.event ? [e.event] : []));
    if (known.length > 0) this.emit('signal', { type: 'events', events: known });
    if (kind === 'sse') this.#scheduleAck();
  }

  #scheduleAck(): void {
    if (this.#ackTimer) return;
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = null;
      const cursor = this.#cursor;
      if (cursor <= this.#acked || this.#stopped) return;
      this.#o.api.request('POST', '/inbox/ack', { body: { cursor } }).then(
        () => (this.#acked = Math.max(this.#acked, cursor)),
        () => undefined, // the next ack or resume covers it
      );
    }, this.#o.timing.ackDelayMs);
  }


  // ── Upgrading back ───────────────────────────────────────────────────────────

  async #maybeUpgrade(): Promise<void> {
    const target = upgradeDue(this.#state, Date.now(), this.#o.fallback);
    if (!target || this.#stopped) return;
    // Mark the probe as started, so the interval does not start a second one meanwhile.
    this.#state = afterUpgradeProbe(this.#state, false, Date.now());
    const ok = await this.#probe(target).catch(() => false);
    if (!ok || this.#stopped) return;
    this.#state = afterUpgradeProbe(this.#state, true, Date.now());
    this.#emitKind();
    this.#connection?.abort();
    this.#wake?.();
  }

  /** Whether the inbox socket gets to `inbox_ready` now (the probe socket is closed again). */
  async #probe(kind: TransportKind): Promise<boolean> {
    if (kind !== 'websocket') return false;
    const controller = new AbortController();
    let ready = false;
    const ending = runSocket(this.#wire, controller.signal, {
      ready: () => {
        ready = true;
        controller.abort();
      },
      frame: () => undefined,
    });
    await ending.catch(() => undefined);
    return ready;
  }

  #emitKind(): void {
    this.#status = { kind: currentKind(this.#state), state: 'connecting' };
    this.emit('signal', { type: 'kind', kind: currentKind(this.#state) });
    this.emit('status', this.#status);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      this.#waiting = true;
      function done() {
        clearTimeout(timer);
        self.#waiting = false;
        resolve();
      }
      this.#wake = done;
    });
  }

  #setStatus(state: StreamStatus['state']): void {
    const kind = currentKind(this.#state);
    if (this.#status.state === state && this.#status.kind === kind) return;
    this.#status = { kind, state };
    this.emit('status', this.#status);
  }

  #terminate(error: ChatError): void {
    this.stop();
    this.#setStatus('closed');
    this.emit('signal', { type: 'closed', error });
  }
}

