/**
 * @module client/transports/inbox-wires
 * One connection of the device event stream (./inbox.ts) on each wire: the inbox
 * WebSocket, Server-Sent Events read with fetch(), long polling. Each runs until its
 * connection ends and says how (`Ending`), handing frames to the stream as they come and
 * acknowledging by cursor as the wire allows.
 */
import { z } from 'zod';
import { INBOX, PING_FRAME, isTerminalClose } from '../../protocol/index.js';
import { ChatError } from '../errors.js';
import type { HttpApi } from '../http.js';
import { SseParser } from '../sse.js';
import { parseInboxFrame, parsePollPage, type IncomingInboxFrame } from '../wire.js';
import { bearerProtocols, toWebSocketUrl } from './websocket.js';
import type { KeepaliveOptions, WebSocketLike } from './types.js';
import type { StreamTimingOptions } from './inbox.js';

/**
 * How one connection ended. `reachable`: plain HTTP to the service works (asked after a
 * socket that never opened; the ack that opens an SSE connect), so a failure to get ready
 * says the wire is blocked rather than the network down; only those count toward a fallback.
 */
export type Ending = { ready: boolean; reason: string; again?: boolean; reachable?: boolean; notBeforeMs?: number };

export interface WireHandlers {
  ready(): void;
  frame(frame: IncomingInboxFrame): void;
}

/** What a connection needs of its stream: the service, the timings, and the cursors. */
export interface WireContext {
  api: HttpApi;
  WebSocket: WebSocketLike;
  keepalive: KeepaliveOptions;
  timing: StreamTimingOptions;
  /** The highest cursor handed to listeners: resume after it. */
  cursor(): number;
  acked(): number;
  /** The server has everything up to `cursor` acknowledged (never moves back). */
  setAcked(cursor: number): void;
}

// ── The inbox WebSocket ──────────────────────────────────────────────────────

export async function runSocket(ctx: WireContext, signal: AbortSignal, on: WireHandlers): Promise<Ending> {
  const token = await ctx.api.freshToken();
  if (signal.aborted) return { ready: false, reason: 'stopped' };
  const ws = new ctx.WebSocket(`${toWebSocketUrl(ctx.api.baseUrl)}/v1/inbox/ws`, bearerProtocols(token));
  return new Promise<Ending>((resolve, reject) => {
    const { intervalMs, timeoutMs } = ctx.keepalive;
    let deadline: ReturnType<typeof setTimeout> | null = null;
    let rejection: ChatError | null = null;
    /** The upgrade went through: whatever ends this socket, the wire is not blocked. */
    let opened = false;
    const arm = (reason: string) => {
      if (deadline) clearTimeout(deadline);
      deadline = setTimeout(() => (opened ? finish({ ready: false, reason, reachable: true }) : unopened(reason)), timeoutMs);
    };
    /** A socket that never opened: blocked, if plain HTTP gets through. */
    const unopened = (reason: string) => void ctx.api.reachable().then((reachable) => finish({ ready: false, reason, reachable }));
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
      if (frame.type === 'deliver' && ctx.cursor() > ctx.acked() && ws.readyState === ws.OPEN) {
        ctx.setAcked(ctx.cursor());
        ws.send(JSON.stringify({ type: 'ack', cursor: ctx.cursor() }));
      }
    };
    ws.onopen = () => {
      opened = true;
    };
    ws.onclose = (event: CloseEvent) => {
      // The token expired on the way (a clock apart from the server's): refreshed, the loop tries again.
      if (rejection?.code === 'invalid_token') {
        void ctx.api.refresh().then(
          () => finish({ ready: false, reason: 'access token refreshed' }),
          (error: unknown) => finish(error instanceof ChatError ? error : { ready: false, reason: String(error) }),
        );
      }
      else if (isTerminalClose(event.code)) finish(rejection ?? new ChatError(event.code === 4004 ? 'device_revoked' : 'unauthenticated', event.reason || `closed ${event.code}`));
      // A socket cut after its upgrade went through is a network drop, not a blocked wire.
      else if (opened) finish({ ready: false, reason: `closed ${event.code}` });
      else unopened(`closed ${event.code}`);
    };
    ws.onerror = () => undefined;
  });
}

// ── Server-Sent Events, read with fetch() ────────────────────────────────────

export async function runSse(ctx: WireContext, signal: AbortSignal, on: WireHandlers): Promise<Ending> {
  // The ack doubles as the reachability check: if it works and the stream then does
  // not, something between here and the service blocks streams.
  await ctx.api.request('POST', '/inbox/ack', { body: { cursor: ctx.cursor() }, signal });
  ctx.setAcked(ctx.cursor());
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (ctx.cursor() > 0) headers['last-event-id'] = String(ctx.cursor());
  let response: Response;
  try {
    response = await ctx.api.openStream('/inbox/events', headers, signal);
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
    }, ctx.timing.sseDeadlineMs);
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

// ── Long polling ─────────────────────────────────────────────────────────────

export async function runPoll(ctx: WireContext, signal: AbortSignal, on: WireHandlers): Promise<Ending> {
  const { pollHoldMs, pollMarginMs } = ctx.timing;
  const hold = Math.min(pollHoldMs, INBOX.longPollMs);
  for (let first = true; !signal.aborted; first = false) {
    const query = new URLSearchParams({ timeoutMs: String(first ? 0 : hold) });
    if (ctx.cursor() > 0) query.set('cursor', String(ctx.cursor()));
    let raw: unknown;
    try {
      raw = await ctx.api.request('GET', `/inbox/poll?${query}`, { schema: z.unknown(), timeoutMs: hold + pollMarginMs, signal });
    } catch (error) {
      if (error instanceof ChatError && isTerminal(error)) throw error;
      return { ready: false, reason: error instanceof Error ? error.message : String(error) };
    }
    const page = parsePollPage(raw);
    if (!page) return { ready: false, reason: 'unreadable poll answer' };
    // The poll's cursor acknowledged everything up to it.
    ctx.setAcked(ctx.cursor());
    on.ready();
    if (page.truncated) on.frame({ type: 'queue_truncated', resumeCursor: ctx.cursor() });
    on.frame({ type: 'deliver', events: page.events });
  }
  return { ready: false, reason: 'stopped' };
}

/** A refusal that retrying cannot fix: the session or device is gone. */
export function isTerminal(error: ChatError): boolean {
  return error.status === 401 || error.status === 403 || ['unauthenticated', 'device_revoked', 'invalid_token', 'invalid_ticket'].includes(error.code);
}
