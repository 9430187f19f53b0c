/**
 * @module objects/sockets
 * What both Durable Objects' hibernatable sockets share: how the worker hands over an
 * authenticated upgrade, how frames and errors are written, how a close is answered and
 * how a refused upgrade is reported; how a frame is read and how every frame is answered.
 */
import type { ErrorBody, ErrorFrame, FrameSchema } from '../protocol/index.js';
import { CLOSE_CODES, parseFrame } from '../protocol/index.js';
import { WINDOWS_PER_DEVICE, type Tier } from '../ratelimit/rules.js';
import { AppError } from '../errors.js';
import { log, reason, type LogFields } from '../log.js';

/** What names a client frame, so its answer (or its error) can say which one it was. */
export interface FrameNames {
  rid?: string | undefined;
  cmid?: string | undefined;
}

/** Headers the worker sets when it forwards an authenticated upgrade. */
/** `fresh`: the Worker read the device's standing from its UserDO for this upgrade (a redeemed ticket). */
export const IDENTITY_HEADERS = { user: 'x-chat-user-id', device: 'x-chat-device-id', tier: 'x-chat-tier', fresh: 'x-chat-standing-fresh' } as const;

/**
 * A large conversation's answer to a window upgrade (307): which of its relays takes the
 * socket (src/conversation/relays.ts). The worker forwards the upgrade there with
 * RELAY_TARGET_HEADERS, which tell the relay whom it serves.
 */
export const RELAY_HEADER = 'x-chat-relay';
export const RELAY_TARGET_HEADERS = { conversation: 'x-chat-conversation-id', index: 'x-chat-relay-index' } as const;

/** The identity the worker put on a forwarded upgrade, or null when it is not one. */
export function upgradeIdentity(request: Request): { userId: string; deviceId: string; tier: Tier; fresh: boolean } | null {
  const userId = request.headers.get(IDENTITY_HEADERS.user);
  const deviceId = request.headers.get(IDENTITY_HEADERS.device);
  // Anything but an explicit "standard" gets the stricter tier.
  const sent = request.headers.get(IDENTITY_HEADERS.tier);
  const tier: Tier = sent === 'standard' || sent === 'service' ? sent : 'new';
  if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket' || !userId || !deviceId) return null;
  return { userId, deviceId, tier, fresh: request.headers.get(IDENTITY_HEADERS.fresh) === '1' };
}

export function errorFrame(error: ErrorBody, names: FrameNames = {}): ErrorFrame {
  const frame: ErrorFrame = { type: 'error', code: error.code, message: error.message };
  if (names.rid) frame.rid = names.rid;
  if (names.cmid) frame.cmid = names.cmid;
  if (error.issues) frame.issues = error.issues;
  if (error.retryAfterMs !== undefined) frame.retryAfterMs = error.retryAfterMs;
  if (error.rule !== undefined) frame.rule = error.rule;
  return frame;
}

export function sendFrame<F extends { type: string }>(ws: WebSocket, frame: F): void {
  sendText(ws, JSON.stringify(frame));
}

export function sendText(ws: WebSocket, text: string): void {
  try {
    ws.send(text);
  } catch {
    // The socket is closing; its client will resume (from history or its cursor).
  }
}

/** Answers the client's close frame; without it the client sees 1006 instead of its code. */
export function answerClose(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code === 1005 ? CLOSE_CODES.normal : code, reason);
  } catch {
    // Already closed.
  }
}

export function closeQuietly(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // Already closed.
  }
}

/**
 * Rejects an upgrade the way browsers can see: complete it, send the error, close with a
 * terminal code. A plain HTTP error would reach a browser only as close code 1006.
 */
export function rejectSocket(error: ErrorBody, closeCode: number): Response {
  const pair = new WebSocketPair();
  const [client, server] = [pair[0], pair[1]];
  server.accept();
  sendFrame(server, errorFrame(error));
  server.close(closeCode, error.message.slice(0, 120));
  return new Response(null, { status: 101, webSocket: client });
}

/**
 * Reads one client frame: the parsed frame, or null once the sender was told what was
 * wrong with it (binary, malformed, unknown type, invalid), with the frame's rid and cmid
 * where they could be read.
 */
export function readFrame<T>(ws: WebSocket, message: string | ArrayBuffer, schema: FrameSchema<T>, knownTypes: readonly string[]): T | null {
  if (typeof message !== 'string') {
    sendFrame(ws, errorFrame({ code: 'invalid_request', message: 'Binary frames are not supported; send JSON text.' }));
    return null;
  }
  const parsed = parseFrame(message, schema, knownTypes);
  if (parsed.ok) return parsed.frame;
  sendFrame(ws, errorFrame(parsed.error, parsed));
  return null;
}

/**
 * Runs a frame's handler so that the frame is always answered. A refusal (AppError) is
 * sent as its error frame; anything else (a callee that threw, a bug) is logged with the
 * frame's names and answered with a retryable `internal` error carrying the rid and
 * cmid, so a client never waits for an answer that will not come. Never rejects: a
 * rejected socket hook is only an "Uncaught (in promise)" in the runtime's log. Returns
 * the error it sent, if any.
 */
export async function answering(ws: WebSocket, names: FrameNames, handle: () => Promise<void> | void, context: LogFields = {}): Promise<ErrorBody | null> {
  try {
    await handle();
    return null;
  } catch (err) {
    const error: ErrorBody =
      err instanceof AppError ? err.toBody() : { code: 'internal', message: 'The server could not handle this frame; send it again.' };
    if (!(err instanceof AppError)) log.error('frame_failed', { ...context, rid: names.rid, cmid: names.cmid, reason: reason(err) });
    sendFrame(ws, errorFrame(error, names));
    return error;
  }
}

/** Whose a socket is: kept in its attachment, so it survives hibernation. */
export interface ReaderAttachment {
  userId: string;
  deviceId: string;
}

/** What a socket's attachment holds (`openedAt` is missing on sockets attached before it existed). */
interface StoredReader extends ReaderAttachment {
  openedAt?: number;
}

/**
 * Sockets' readers, read from their attachments once and then kept in memory: every frame
 * and every broadcast needs one, and a structured-clone read per frame showed in a
 * message's cost. After hibernation the memory is empty and the attachment is read again.
 */
export class ReaderAttachments {
  readonly #bySocket = new WeakMap<WebSocket, ReaderAttachment>();

  /** The socket's reader, or null for a socket that never got one. */
  of(ws: WebSocket): ReaderAttachment | null {
    let reader = this.#bySocket.get(ws);
    if (!reader) {
      const stored = ws.deserializeAttachment() as ReaderAttachment | null;
      if (!stored) return null;
      reader = { userId: stored.userId, deviceId: stored.deviceId };
      this.#bySocket.set(ws, reader);
    }
    return reader;
  }

  /** Gives an accepted socket its reader, and when it opened (`makeRoomFor` closes the oldest). */
  attach(ws: WebSocket, reader: ReaderAttachment): void {
    ws.serializeAttachment({ ...reader, openedAt: Date.now() } satisfies StoredReader);
    this.#bySocket.set(ws, reader);
  }
}

/** A socket's tag for its device, so a device's sockets are found without reading attachments. */
export const deviceTag = (deviceId: string) => `device:${deviceId}`;

/** A socket's tag for its user, so a user's sockets are found without reading attachments. */
export const userTag = (userId: string) => `user:${userId}`;

/**
 * Keeps a device's chat-window sockets on this object within its tier's
 * WINDOWS_PER_DEVICE, counting the one opening now: the oldest are closed as replaced
 * (by when they opened: the runtime lists sockets in no promised order). Sockets opened
 * before the device tag existed carry only the user's and are not counted; they close in time.
 */
export function makeRoomFor(ctx: DurableObjectState, deviceId: string, tier: Tier): void {
  const mine = ctx.getWebSockets(deviceTag(deviceId));
  const over = mine.length + 1 - WINDOWS_PER_DEVICE[tier];
  if (over <= 0) return;
  const openedAt = (ws: WebSocket) => (ws.deserializeAttachment() as StoredReader | null)?.openedAt ?? 0;
  const oldestFirst = mine.map((ws) => ({ ws, at: openedAt(ws) })).sort((a, b) => a.at - b.at);
  for (const { ws } of oldestFirst.slice(0, over)) closeQuietly(ws, CLOSE_CODES.replaced, 'Replaced by a newer window of this device.');
}
