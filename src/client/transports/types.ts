/**
 * @module client/transports/types
 * What a transport is to the SDK: something that, once started, keeps a live stream of
 * a conversation's events open (reconnecting by itself), reports acks and errors, and
 * can carry a send. The conversation logic above it (reorder buffer, gap fill, outbox)
 * does not care which wire is used, so WebSocket, Server-Sent Events + POST and long
 * polling are interchangeable implementations of this one interface.
 */
import type { Ack, MessageContent } from '../../protocol/index.js';
import type { BackoffOptions } from '../backoff.js';
import type { WakeSignal } from '../reconnect.js';
import type { ChatError } from '../errors.js';
import type { HttpApi } from '../http.js';
import type { IncomingEvent, TypingSignal, WireError } from '../wire.js';

/**
 * The transports this SDK version ships: `websocket` (the inbox socket, and a chat-window
 * socket per open conversation), `sse` (Server-Sent Events read with fetch, sends by
 * POST) and `long-poll` (held GETs, sends by POST).
 */
export type TransportKind = 'websocket' | 'sse' | 'long-poll';

/** What a transport reports, in the order it happens. */
export type TransportSignal =
  /** Connected (again). The server holds events up to `lastSeq`: anything past the client's cursor is a gap to fill now. */
  | { type: 'open'; lastSeq: number }
  | { type: 'events'; conversationId: string; events: IncomingEvent[] }
  /** The conversation has events up to `lastSeq` that were not sent on this wire (a large group's activity hint): fetch them. */
  | { type: 'head'; lastSeq: number }
  | { type: 'ack'; ack: Ack }
  /** Another member's device started or stopped typing, told by this wire itself (a socket's typing frames come through the live tap, client/live). */
  | { type: 'typing'; typing: TypingSignal }
  /** A request failed; the transport stays up. `cmid` names the send it answers, if any. */
  | { type: 'error'; cmid?: string; error: WireError }
  /** The connection dropped; the transport is reconnecting by itself. */
  | { type: 'down'; reason: string }
  /** The transport stopped for good (a 4xxx close, a refused login): it will not reconnect. */
  | { type: 'closed'; error: ChatError };

/** A message handed to a wire, as the outbox keeps it: `replyToSeq` makes it a reply. */
export interface PendingSend {
  cmid: string;
  content: MessageContent;
  replyToSeq?: number | undefined;
}

export interface Transport {
  readonly kind: TransportKind;
  /** Starts connecting; reconnects after every loss until `close()` or a terminal failure. */
  start(): void;
  /**
   * Hands a message to the wire if connected. False means it was not sent: the outbox
   * keeps it and the conversation resends everything pending on the next `open`.
   */
  send(message: PendingSend): boolean;
  /**
   * Says the user started or stopped typing, on a wire that carries it itself (the
   * fallback wires post it); absent where a socket frame does (client/live). Best effort:
   * false when it could not go, and never queued.
   */
  typing?(state: 'start' | 'stop'): boolean;
  /** Stops for good; no more signals. */
  close(): void;
}

/** A minimal WebSocket constructor: the browser's and Node 22's global `WebSocket` both fit. */
export type WebSocketLike = new (url: string, protocols?: string | string[]) => WebSocket;

/** How often to ping an idle socket, and how long to wait for any answer before calling it dead. */
export interface KeepaliveOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/**
 * A ping every 20 s (under the ~30-60 s idle timeouts of common proxies and NATs); a
 * socket that answers nothing for 10 s after a ping is half-open and gets replaced.
 */
export const KEEPALIVE_DEFAULTS: KeepaliveOptions = { intervalMs: 20_000, timeoutMs: 10_000 };

/** Everything a transport needs to serve one conversation. */
export interface TransportContext {
  api: HttpApi;
  conversationId: string;
  signal: (signal: TransportSignal) => void;
  backoff: BackoffOptions;
  keepalive: KeepaliveOptions;
  WebSocket: WebSocketLike;
  /** "Try again now": the browser is online again or the page visible again (./reconnect.ts). */
  wake?: WakeSignal;
}

export type TransportFactory = (context: TransportContext) => Transport;
