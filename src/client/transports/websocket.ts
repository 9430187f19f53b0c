/**
 * @module client/transports/websocket
 * The chat-window WebSocket (`/v1/conversations/:id/ws`). Each connection is
 * authenticated by the access token as a subprotocol (`bearerProtocols`: browsers cannot
 * set an Authorization header on a WebSocket, and a token must never sit in a URL),
 * refreshed first when it is about to expire: one round trip per connect. Reconnects with
 * exponential backoff and full jitter; stops for good on a 4xxx close, but for an expired
 * token, which is refreshed and tried again. A keepalive
 * ping with an answer deadline detects half-open sockets, which otherwise look alive
 * forever because nothing is ever written to them.
 */
import { CLOSE_CODES, PING_FRAME, WS_BEARER_PREFIX, WS_SUBPROTOCOL, isTerminalClose } from '../../protocol/index.js';
import { ReconnectPolicy } from '../reconnect.js';
import { ChatError } from '../errors.js';
import { parseServerFrame, type WireError } from '../wire.js';
import type { PendingSend, Transport, TransportContext } from './types.js';

/** The error a terminal close code stands for, when the server sent no error frame first. */
const CLOSE_ERRORS: Record<number, string> = {
  [CLOSE_CODES.unauthenticated]: 'unauthenticated',
  [CLOSE_CODES.forbidden]: 'forbidden',
  [CLOSE_CODES.deviceRevoked]: 'device_revoked',
  [CLOSE_CODES.replaced]: 'conflict',
};

/** The subprotocols that authenticate a socket with `token` (src/protocol/frames.ts). */
export function bearerProtocols(token: string): string[] {
  return [WS_SUBPROTOCOL, `${WS_BEARER_PREFIX}${token}`];
}

/** `http(s)://host` → `ws(s)://host`. */
export function toWebSocketUrl(baseUrl: string): string {
  return baseUrl.replace(/^http/, 'ws');
}

export function webSocketTransport(context: TransportContext): Transport {
  return new WebSocketTransport(context);
}

class WebSocketTransport implements Transport {
  readonly kind = 'websocket';
  readonly #ctx: TransportContext;
  #ws: WebSocket | null = null;
  /** When to try again after a loss (./reconnect.ts). */
  readonly #reconnect: ReconnectPolicy;
  #offWake: (() => void) | null = null;
  #ready = false;
  #stopped = false;
  /** An error frame that came before `ready`: the reason for the close that follows. */
  #rejection: WireError | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #pingTimer: ReturnType<typeof setInterval> | null = null;
  #deadline: ReturnType<typeof setTimeout> | null = null;

  constructor(context: TransportContext) {
    this.#ctx = context;
    this.#reconnect = new ReconnectPolicy(context.backoff);
  }

  start(): void {
    if (this.#stopped || this.#ws || this.#retryTimer) return;
    this.#offWake ??= this.#ctx.wake?.(() => this.#onWake()) ?? null;
    void this.#connect();
  }

  /**
   * The browser is online again (or the page visible again): a pending retry goes now,
   * from the first delay; an open socket is pinged at once, since after a network change
   * it may be dead without knowing it.
   */
  #onWake(): void {
    if (this.#stopped) return;
    if (this.#retryTimer) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = null;
      this.#reconnect.reset();
      void this.#connect();
      return;
    }
    const ws = this.#ws;
    if (ws && this.#ready && ws.readyState === ws.OPEN && !this.#deadline) {
      ws.send(PING_FRAME);
      this.#deadline = setTimeout(() => {
        if (ws !== this.#ws) return;
        this.#discard(CLOSE_CODES.normal);
        this.#reconnect.reset();
        this.#retry('no answer after the network came back');
      }, this.#ctx.keepalive.timeoutMs);
    }
  }

  send(message: PendingSend): boolean {
    const ws = this.#ws;
    if (!ws || !this.#ready || ws.readyState !== ws.OPEN) return false;
    ws.send(JSON.stringify({ type: 'send', cmid: message.cmid, content: message.content, replyToSeq: message.replyToSeq }));
    return true;
  }

  close(): void {
    this.#stopped = true;
    this.#offWake?.();
    this.#offWake = null;
    this.#clearTimers();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#discard(CLOSE_CODES.normal);
  }

  async #connect(): Promise<void> {
    let token: string;
    try {
      token = await this.#ctx.api.freshToken();
    } catch (error) {
      if (this.#stopped) return;
      // The session is gone (the refresh token was refused); retrying would only repeat it.
      if (error instanceof ChatError && (error.status === 401 || error.status === 403 || error.code === 'unauthenticated')) return this.#terminate(error);
      const notBefore = error instanceof ChatError ? (error.retryAfterMs ?? 0) : 0;
      return this.#retry(`token: ${error instanceof Error ? error.message : String(error)}`, notBefore);
    }
    if (this.#stopped) return;
    const url = `${toWebSocketUrl(this.#ctx.api.baseUrl)}/v1/conversations/${encodeURIComponent(this.#ctx.conversationId)}/ws`;
    let ws: WebSocket;
    try {
      ws = new this.#ctx.WebSocket(url, bearerProtocols(token));
    } catch (error) {
      return this.#retry(`connect: ${String(error)}`);
    }
    this.#ws = ws;
    this.#ready = false;
    this.#rejection = null;
    // Until `ready` arrives the socket is not usable; one that hangs while connecting
    // is given up on like a silent one.
    this.#deadline = setTimeout(() => {
      if (ws !== this.#ws) return;
      this.#discard(CLOSE_CODES.normal);
      this.#retry('connect timeout');
    }, this.#ctx.keepalive.timeoutMs);
    ws.onopen = () => this.#startKeepalive(ws);
    ws.onmessage = (event: MessageEvent) => this.#onMessage(ws, event.data);
    ws.onclose = (event: CloseEvent) => this.#onClose(ws, event.code, event.reason);
    // An error is always followed by close, which decides what happens next.
    ws.onerror = () => undefined;
  }

  #onMessage(ws: WebSocket, data: unknown): void {
    if (ws !== this.#ws || typeof data !== 'string') return;
    // Any frame proves the socket alive, not only a pong.
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = null;
    const frame = parseServerFrame(data);
    switch (frame.type) {
      case 'ready':
        this.#ready = true;
        this.#reconnect.up();
        this.#ctx.signal({ type: 'open', lastSeq: frame.lastSeq });
        return;
      case 'events':
        this.#ctx.signal({ type: 'events', conversationId: frame.conversationId, events: frame.events });
        return;
      case 'ack':
        this.#ctx.signal({ type: 'ack', ack: frame.ack });
        return;
      case 'error':
        if (!this.#ready) this.#rejection = frame.error;
        else this.#ctx.signal(frame.cmid === undefined ? { type: 'error', error: frame.error } : { type: 'error', cmid: frame.cmid, error: frame.error });
        return;
      default:
        return;
    }
  }

  #onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.#ws) return;
    this.#ws = null;
    this.#clearTimers();
    if (this.#stopped) return;
    if (isTerminalClose(code)) {
      const rejection = this.#rejection;
      // The token expired on the way (a clock apart from the server's): refreshed, then again.
      if (rejection?.code === 'invalid_token') return void this.#refreshThenRetry();
      const error = rejection
        ? new ChatError(rejection.code, rejection.message)
        : new ChatError(CLOSE_ERRORS[code] ?? 'forbidden', reason || `The server closed the connection (${code}).`);
      return this.#terminate(error);
    }
    this.#retry(`closed ${code}${reason ? `: ${reason}` : ''}`);
  }

  async #refreshThenRetry(): Promise<void> {
    try {
      await this.#ctx.api.refresh();
    } catch (error) {
      if (error instanceof ChatError && (error.status === 401 || error.status === 403)) return this.#terminate(error);
    }
    if (!this.#stopped) this.#retry('access token refreshed');
  }

  #startKeepalive(ws: WebSocket): void {
    const { intervalMs, timeoutMs } = this.#ctx.keepalive;
    this.#pingTimer = setInterval(() => {
      if (ws !== this.#ws || ws.readyState !== ws.OPEN) return;
      ws.send(PING_FRAME);
      this.#deadline ??= setTimeout(() => {
        if (ws !== this.#ws) return;
        // A half-open socket may never deliver a close event: drop it without waiting.
        this.#discard(CLOSE_CODES.normal);
        this.#retry('keepalive timeout');
      }, timeoutMs);
    }, intervalMs);
  }

  /** Forgets the current socket and closes it without reacting to its events. */
  #discard(code: number): void {
    const ws = this.#ws;
    this.#ws = null;
    this.#ready = false;
    this.#clearTimers();
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(code);
    } catch {
      // Still connecting or already closed: nothing to answer.
    }
  }

  #retry(reason: string, notBeforeMs = 0): void {
    if (this.#stopped) return;
    this.#ready = false;
    this.#ctx.signal({ type: 'down', reason });
    const delay = Math.max(notBeforeMs, this.#reconnect.next(Math.random()));
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (!this.#stopped) void this.#connect();
    }, delay);
  }

  #terminate(error: ChatError): void {
    this.#stopped = true;
    this.#offWake?.();
    this.#offWake = null;
    this.#clearTimers();
    this.#ctx.signal({ type: 'closed', error });
  }

  #clearTimers(): void {
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#pingTimer = null;
    this.#deadline = null;
  }
}
