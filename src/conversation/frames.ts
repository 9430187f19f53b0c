/**
 * @module conversation/frames
 * What a chat window sends: each frame read against the protocol, dispatched, and always
 * answered (an ack, a result, or an error with the frame's rid and cmid; a failure that is
 * not the client's is a retryable `internal`).
 *
 * A socket's frames are handled one after another, so a send that awaits (a device's
 * standing, an allowance lease) keeps its socket's order. Under load a frame also waits
 * for its group's turn (./group-commit.ts); frames join in arrival order and are released
 * in it, so each socket's order holds.
 */
import type { Env } from '../env.js';
import { AppError } from '../errors.js';
import { record } from '../metrics.js';
import { CLIENT_FRAME, CLIENT_FRAME_TYPES, CLOSE_CODES, type ClientFrame, type ServerFrame } from '../protocol/index.js';
import { answering, closeQuietly, readFrame, sendFrame } from '../objects/sockets.js';
import { historyPage } from './history.js';
import { loadMeta, requireMeta } from './meta.js';
import type { ConversationParts } from './parts.js';
import { admit, type Reader } from './visibility.js';

export class FrameDispatcher {
  readonly #queues = new Map<WebSocket, Promise<void>>();

  constructor(
    private readonly parts: ConversationParts,
    private readonly env: Env,
    /** After a change that queued updates or set a deadline: deliver, and set the alarm. */
    private readonly settle: () => Promise<void>,
  ) {}

  /** Queues a frame behind its socket's earlier ones. Never rejects. */
  receive(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const previous = this.#queues.get(ws) ?? Promise.resolve();
    const grouped = this.parts.groupCommit.join();
    const handled = (grouped ? Promise.all([previous, grouped]) : previous).then(() => this.handle(ws, message));
    this.#queues.set(ws, handled);
    void handled.then(() => {
      if (this.#queues.get(ws) === handled) this.#queues.delete(ws);
    });
    return handled;
  }

  private async handle(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const reader = this.parts.windows.attachmentOf(ws);
    if (!reader) return;
    const frame = readFrame(ws, message, CLIENT_FRAME, CLIENT_FRAME_TYPES);
    if (!frame) return;
    const names = { rid: frame.rid, cmid: frame.type === 'send' ? frame.cmid : undefined };
    let settle = false;
    const error = await answering(ws, names, async () => {
      settle = await this.dispatch(ws, reader, frame);
    }, { conversationId: loadMeta(this.parts.store)?.id });
    if (error) record(this.env, { kind: 'rejection', wire: 'ws', code: error.code, route: `ws ${frame.type}` });
    // Refused as a reader (no longer a member, device signed out): the window ends.
    if (error?.code === 'conversation_not_found') closeQuietly(ws, CLOSE_CODES.forbidden, 'Not a member.');
    if (error?.code === 'device_revoked') closeQuietly(ws, CLOSE_CODES.deviceRevoked, 'This device has been signed out.');
    if (settle) await this.settle();
  }

  /** Answers one frame; true when what it changed needs delivering (`settle`). */
  private async dispatch(ws: WebSocket, reader: Reader, frame: ClientFrame): Promise<boolean> {
    const { typing, writes, store, sender, delivery, standings } = this.parts;
    if (frame.type === 'send') {
      const sent = await sender.send(reader, { cmid: frame.cmid, content: frame.content, replyToSeq: frame.replyToSeq });
      if (!sent.ok) throw AppError.from(sent.error);
      sendFrame(ws, { type: 'ack', rid: frame.rid, ...sent.value } satisfies ServerFrame);
      record(this.env, { kind: 'send', wire: 'ws', outcome: sent.value.duplicate ? 'duplicate' : 'stored' });
      // Fan-out starts once the ack is on its way, so it never delays it.
      if (!sent.value.duplicate) void delivery.kick();
      return false;
    }
    const tier = await standings.require(reader);
    switch (frame.type) {
      case 'history': {
        admit(store, standings, reader);
        const { type: _type, rid, ...query } = frame;
        sendFrame(ws, { type: 'history', rid, ...historyPage(store, query, reader) } satisfies ServerFrame);
        return false;
      }
      case 'read': {
        const own = writes.read(reader, frame.seq);
        sendFrame(ws, { type: 'watermark', rid: frame.rid, conversationId: requireMeta(store).id, deliveredSeq: own.deliveredSeq, readSeq: own.readSeq } satisfies ServerFrame);
        return true;
      }
      case 'typing':
        admit(store, standings, reader);
        typing.update(reader, frame.state, tier, ws);
        return false;
      case 'edit':
        sendFrame(ws, { type: 'done', rid: frame.rid, seq: writes.edit(reader, frame.targetSeq, frame.content) } satisfies ServerFrame);
        return false;
      case 'delete':
        sendFrame(ws, { type: 'done', rid: frame.rid, seq: writes.remove(reader, frame.targetSeq, frame.scope) } satisfies ServerFrame);
        return true;
      case 'react':
        sendFrame(ws, { type: 'done', rid: frame.rid, seq: writes.react(reader, frame.targetSeq, frame.emoji, frame.op) } satisfies ServerFrame);
        return false;
    }
  }
}
