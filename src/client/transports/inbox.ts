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
 */
import { z } from 'zod';
import { INBOX, PING_FRAME, isTerminalClose, type DeviceEvent } from '../../protocol/index.js';
import type { BackoffOptions } from '../backoff.js';
import { ReconnectPolicy, type WakeSignal } from '../reconnect.js';
import { Emitter } from '../emitter.js';
import { ChatError } from '../errors.js';
import type { HttpApi } from '../http.js';
import { SseParser } from '../sse.js';
import { parseInboxFrame, parsePollPage, type IncomingDeviceEvent, type IncomingInboxFrame } from '../wire.js';
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
import { toWebSocketUrl } from './websocket.js';
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

/**
 * How one connection ended. `reachable`: plain HTTP to the service worked just before
 * (the ticket, or the ack that opens an SSE connect), so a failure to get ready says the
 * wire is blocked rather than the network down; only those count toward a fallback.
 */
type Ending = { ready: boolean; reason: string; again?: boolean; reachable?: boolean; notBeforeMs?: number };

interface WireHandlers {
  ready(): void;
  frame(frame: IncomingInboxFrame): void;
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

  constructor(options: InboxStreamOptions) {
    super();
    this.#o = { ...options, fallback: { ...FALLBACK_DEFAULTS, ...options.fallback } };
    this.#state = initialFallback(options.order, options.forced, Date.now());
    this.#status = { kind: currentKind(this.#state), state: 'connecting' };
    this.#cursor = options.after ?? 0;
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
        // Refused for now (e.g. too many connect tickets): not before the server says.
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
    const run = kind === 'websocket' ? this.#runSocket(signal, handlers) : kind === 'sse' ? this.#runSse(signal, handlers) : this.#runPoll(signal, handlers);
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

  // ── The inbox WebSocket ──────────────────────────────────────────────────────

  async #runSocket(signal: AbortSignal, on: WireHandlers): Promise<Ending> {
    const ticket = await this.#o.api.ticket();
    if (signal.aborted) return { ready: false, reason: 'stopped' };
    const ws = new this.#o.WebSocket(`${toWebSocketUrl(this.#o.api.baseUrl)}/v1/inbox/ws?ticket=${encodeURIComponent(ticket)}`);
    return new Promise<Ending>((resolve, reject) => {
      const { intervalMs, timeoutMs } = this.#o.keepalive;
      let deadline: ReturnType<typeof setTimeout> | null = null;
      let rejection: ChatError | null = null;
      /** The upgrade went through: whatever ends this socket, the wire is not blocked. */
      let opened = false;
      const arm = (reason: string) => {
        if (deadline) clearTimeout(deadline);
        deadline = setTimeout(() => finish({ ready: false, reason, reachable: true }), timeoutMs);
      };
      const ping = setInterval(() => {
        if (ws.readyState !== ws.OPEN) return;
        ws.send(PING_FRAME);
        if (!deadline) arm('keepalive timeout');
      }, intervalMs);
      const finish = (ending: Ending | ChatError) => {
        clearInterval(ping);
        if (deadline) clearTimeout(deadline);
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        try {
          ws.close(1000);
        } catch {
          // already closed
        }
        if (ending instanceof ChatError) reject(ending);
        else resolve(ending);
      };
      arm('connect timeout');
      signal.addEventListener('abort', () => finish({ ready: false, reason: 'stopped' }), { once: true });
      ws.onmessage = (event: MessageEvent) => {
        if (typeof event.data !== 'string') return;
        if (deadline) clearTimeout(deadline);
        deadline = null;
        const frame = parseInboxFrame(event.data);
        if (frame.type === 'inbox_ready') on.ready();
        else if (frame.type === 'error') rejection = new ChatError(frame.error.code, frame.error.message, frame.error);
        on.frame(frame);
        if (frame.type === 'deliver' && this.#cursor > this.#acked && ws.readyState === ws.OPEN) {
          this.#acked = this.#cursor;
          ws.send(JSON.stringify({ type: 'ack', cursor: this.#cursor }));
        }
      };
      ws.onopen = () => {
        opened = true;
      };
      ws.onclose = (event: CloseEvent) => {
        if (isTerminalClose(event.code)) finish(rejection ?? new ChatError(event.code === 4004 ? 'device_revoked' : 'unauthenticated', event.reason || `closed ${event.code}`));
        // A socket cut after its upgrade went through is a network drop, not a blocked wire.
        else finish({ ready: false, reason: `closed ${event.code}`, reachable: !opened });
      };
      ws.onerror = () => undefined;
    });
  }

  // ── Server-Sent Events, read with fetch() ────────────────────────────────────

  async #runSse(signal: AbortSignal, on: WireHandlers): Promise<Ending> {
    // The ack doubles as the reachability check: if it works and the stream then does
    // not, something between here and the service blocks streams.
    await this.#o.api.request('POST', '/inbox/ack', { body: { cursor: this.#cursor }, signal });
    this.#acked = Math.max(this.#acked, this.#cursor);
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (this.#cursor > 0) headers['last-event-id'] = String(this.#cursor);
    let response: Response;
    try {
      response = await this.#o.api.openStream('/inbox/events', headers, signal);
    } catch (error) {
      if (error instanceof ChatError && isTerminal(error)) throw error;
      return { ready: false, reason: error instanceof Error ? error.message : String(error), reachable: true };
    }
    if (!response.body) return { ready: false, reason: 'no body', reachable: true };
    const reader = response.body.getReader();
    const parser = new SseParser();
    const decoder = new TextDecoder();
    let silent: ReturnType<typeof setTimeout> | null = null;
    let timedOut = false;
    /** An `error` frame that ends the stream for good (the device was signed out). */
    let refusal: ChatError | null = null;
    const arm = () => {
      if (silent) clearTimeout(silent);
      silent = setTimeout(() => {
        timedOut = true;
        void reader.cancel().catch(() => undefined);
      }, this.#o.timing.sseDeadlineMs);
    };
    const cancel = () => void reader.cancel().catch(() => undefined);
    signal.addEventListener('abort', cancel, { once: true });
    arm();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        for (const message of parser.push(decoder.decode(value, { stream: true }))) {
          const frame = parseInboxFrame(message.data);
          if (frame.type === 'inbox_ready') on.ready();
          if (frame.type === 'error') {
            const error = new ChatError(frame.error.code, frame.error.message, frame.error);
            if (isTerminal(error)) refusal = error;
          }
          on.frame(frame);
        }
        if (refusal) break;
      }
    } catch {
      // A cut connection: the loop reconnects after the last cursor.
    } finally {
      if (silent) clearTimeout(silent);
      signal.removeEventListener('abort', cancel);
    }
    if (refusal) throw refusal;
    if (timedOut) return { ready: false, reason: 'no heartbeat', reachable: true };
    if (signal.aborted) return { ready: false, reason: 'stopped' };
    return { ready: false, reason: 'stream ended', again: true, reachable: true };
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

  // ── Long polling ─────────────────────────────────────────────────────────────

  async #runPoll(signal: AbortSignal, on: WireHandlers): Promise<Ending> {
    const { pollHoldMs, pollMarginMs } = this.#o.timing;
    const hold = Math.min(pollHoldMs, INBOX.longPollMs);
    for (let first = true; !signal.aborted; first = false) {
      const query = new URLSearchParams({ timeoutMs: String(first ? 0 : hold) });
      if (this.#cursor > 0) query.set('cursor', String(this.#cursor));
      let raw: unknown;
      try {
        raw = await this.#o.api.request('GET', `/inbox/poll?${query}`, { schema: z.unknown(), timeoutMs: hold + pollMarginMs, signal });
      } catch (error) {
        if (error instanceof ChatError && isTerminal(error)) throw error;
        return { ready: false, reason: error instanceof Error ? error.message : String(error) };
      }
      const page = parsePollPage(raw);
      if (!page) return { ready: false, reason: 'unreadable poll answer' };
      // The poll's cursor acknowledged everything up to it.
      this.#acked = Math.max(this.#acked, this.#cursor);
      on.ready();
      if (page.truncated) on.frame({ type: 'queue_truncated', resumeCursor: this.#cursor });
      on.frame({ type: 'deliver', events: page.events });
    }
    return { ready: false, reason: 'stopped' };
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
    const ending = this.#runSocket(controller.signal, {
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

/** A refusal that retrying cannot fix: the session or device is gone. */
function isTerminal(error: ChatError): boolean {
  return error.status === 401 || error.status === 403 || ['unauthenticated', 'device_revoked', 'invalid_token', 'invalid_ticket'].includes(error.code);
}
