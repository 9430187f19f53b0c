/**
 * @module relay/RelayDO
 * One object per share of a large conversation's live readers (src/conversation/relays.ts
 * says which conversations, and which relay a reader joins): it holds at most
 * RELAY_MAX_SOCKETS hibernatable sockets, gets the conversation's new events in one call
 * per batch, and writes them to every socket. Posting stays in the conversation (one
 * writer, one seq); a relay stores nothing but its watermark.
 *
 * A shell: RPC methods for the conversation and the runtime's socket hooks, over
 * ./readers.ts (admission, ordered delivery, catch-up, closing) and ./frames.ts (what its
 * sockets send, passed on to the conversation).
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env.js';
import { migrate } from '../storage/migrate.js';
import { CLOSE_CODES, PING_FRAME, PONG_FRAME } from '../protocol/index.js';
import { RELAY_TARGET_HEADERS, answerClose, closeQuietly, upgradeIdentity } from '../objects/sockets.js';
import { record } from '../metrics.js';
import { withRequestId } from '../log.js';
import type { RelayBatch, RelayReport } from '../conversation/relays.js';
import { RelayFrames } from './frames.js';
import { RelayReaders } from './readers.js';

const MIGRATIONS = [
  [
    // The conversation served, this relay's index in it, and how far its sockets have been sent events.
    `CREATE TABLE relay_state (
       id            INTEGER PRIMARY KEY CHECK (id = 1),
       conversation_id TEXT NOT NULL,
       idx           INTEGER NOT NULL,
       delivered_seq INTEGER NOT NULL
     )`,
  ],
] as const;

export class RelayDO extends DurableObject<Env> {
  private readonly readers: RelayReaders;
  private readonly frames: RelayFrames;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, MIGRATIONS);
    this.readers = new RelayReaders(ctx, env);
    this.frames = new RelayFrames(env, (ws) => {
      const reader = this.readers.attachmentOf(ws);
      const conversationId = this.readers.conversationId;
      return reader && conversationId ? { reader, conversationId } : null;
    });
    // Keepalive pings are answered by the runtime without waking a hibernated object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  // ── RPC: from the conversation ───────────────────────────────────────────────

  /** New events, to every socket here, in seq order (what was missed is fetched first). */
  async deliver(batch: RelayBatch): Promise<RelayReport> {
    return this.readers.deliver(batch);
  }

  async closeUser(userId: string): Promise<RelayReport> {
    return this.readers.closeUser(userId);
  }

  async closeDevice(userId: string, deviceId: string): Promise<RelayReport> {
    return this.readers.closeDevice(userId, deviceId);
  }

  /** After a failed call: catch up to `upTo` and drop readers the conversation no longer admits. */
  async sync(upTo: number): Promise<RelayReport> {
    return this.readers.sync(upTo);
  }

  // ── Runtime hooks ────────────────────────────────────────────────────────────

  /** Accepts a chat-window socket the worker authenticated, once the conversation admits it. */
  override async fetch(request: Request): Promise<Response> {
    const identity = upgradeIdentity(request);
    const conversationId = request.headers.get(RELAY_TARGET_HEADERS.conversation);
    const index = Number(request.headers.get(RELAY_TARGET_HEADERS.index));
    if (!identity || !conversationId || !Number.isSafeInteger(index)) return new Response('Expected an authenticated WebSocket upgrade.', { status: 426 });
    return this.readers.open(identity, conversationId, index);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    return withRequestId(crypto.randomUUID(), () => this.frames.receive(ws, message));
  }

  // Counted as chat windows (src/metrics.ts): +1 on accept (./readers.ts), -1 on close.
  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    record(this.env, { kind: 'socket', wire: 'chat_ws', delta: -1 });
    answerClose(ws, code, reason);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    record(this.env, { kind: 'socket', wire: 'chat_ws', delta: -1 });
    closeQuietly(ws, CLOSE_CODES.serverError, 'Socket error.');
  }
}
