/**
 * @module test/reliability/ipc
 * What the test and its device processes say to each other (Node IPC, JSON). A device
 * process runs one real SDK `ChatClient`; the test sends it commands and it streams
 * back, in batches, everything its app saw: events per conversation (the chat windows,
 * history catch-up included), the device event stream, queued sends, acks, failures and
 * status changes, each stamped with the time it happened.
 */
import type { ConversationEvent, DeviceEvent, TransportKind } from '../../src/client/index.js';

export type Wire = TransportKind;

/** SDK timing for a device: short, so recoveries fit in a test. */
export interface DeviceTiming {
  backoff: { initialDelayMs: number; maxDelayMs: number };
  keepalive: { intervalMs: number; timeoutMs: number };
  requestTimeoutMs: number;
  streamTiming: { pollHoldMs: number; pollMarginMs: number; sseDeadlineMs: number; ackDelayMs: number };
}

export type Command =
  | { op: 'init'; baseUrl: string; wire: Wire; timing: DeviceTiming }
  | { op: 'register'; handle: string; password: string; deviceName: string }
  | { op: 'login'; handle: string; password: string; deviceName: string }
  | { op: 'createDirect'; peerId: string }
  | { op: 'createGroup'; title: string; memberIds: string[] }
  | { op: 'addMember'; c: string; userId: string }
  | { op: 'removeMember'; c: string; userId: string }
  /** Starts the device event stream. */
  | { op: 'connect' }
  /** Opens a conversation (again after `offline`: from the last seq the app has). */
  | { op: 'open'; c: string }
  /** Closes the client: streams and windows; unacked sends stay in the outbox. */
  | { op: 'offline' }
  /** Reconnects and reopens what was open, each after the last seq the app has. */
  | { op: 'online' }
  /** An app reload: a new ChatClient on the same session and outbox store, reopening. */
  | { op: 'reload' }
  /** Queues `texts` through the SDK, `gapMs` apart; does not wait for acks. */
  | { op: 'send'; c: string; texts: string[]; gapMs: number }
  | { op: 'edit'; c: string; seq: number; text: string }
  | { op: 'delete'; c: string; seq: number }
  | { op: 'react'; c: string; seq: number; emoji: string; remove: boolean }
  /** Open windows' state now. */
  | { op: 'status' }
  | { op: 'token' }
  /**
   * `copies` concurrent sends with one cmid, each retried (network failures, 5xx, 429) up
   * to `attempts` times: every answer is returned. `over`: `POST /messages` (http, the
   * default) or a `send` frame on a chat-window WebSocket of its own per copy.
   */
  | { op: 'post'; c: string; cmid: string; text: string; copies: number; attempts: number; retryMs: number; over?: 'http' | 'websocket' };

export interface PostAnswer {
  /** 0: no answer (a network failure or a timeout). */
  status: number;
  seq?: number;
  duplicate?: boolean;
  code?: string;
  retryAfterMs?: number;
  /** The `Retry-After` header (seconds). */
  retryAfter?: string;
  at: number;
}

export interface DeviceStatus {
  wire: { kind: string; state: string } | null;
  conversations: Record<string, { lastSeq: number; status: string; pending: number }>;
  /** The SDK's HTTP calls with no answer begun yet, oldest first: what each is and how long it has waited, in ms. */
  inFlight: { what: string; ms: number }[];
}

export type Observation =
  | { k: 'ev'; c: string; e: ConversationEvent; at: number }
  | { k: 'in'; events: DeviceEvent[]; at: number }
  | { k: 'resync'; at: number }
  | { k: 'q'; c: string; cmid: string; text: string; at: number }
  | { k: 'ack'; c: string; cmid: string; seq: number; dup: boolean; at: number }
  | { k: 'fail'; c: string; cmid: string; code: string; at: number }
  /** A window's status changed; `why` is the error that closed it for good. */
  | { k: 'st'; c: string; status: string; why?: string; at: number }
  | { k: 'tr'; kind: string; state: string; at: number }
  | { k: 'err'; c: string; code: string; at: number }
  | { k: 'open'; c: string; after: number; at: number }
  /** An HTTP call of the SDK that failed: a status, or the error's name. */
  | { k: 'http'; what: string; result: string; at: number }
  /** The app closed its client (`offline`) or reloaded (a new client): a new device event stream. */
  | { k: 'restart'; why: 'offline' | 'reload'; at: number }
  /** A WebSocket of the SDK was created, opened or closed. */
  | { k: 'ws'; what: string; at: number };

export type ToDevice = { id: number; command: Command };
export type FromDevice = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string } | { observations: Observation[] };
