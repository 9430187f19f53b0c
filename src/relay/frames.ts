/**
 * @module relay/frames
 * What a socket on a relay sends: the chat window's frames (the SDK does not know which
 * object holds its socket), each read against the protocol and passed to the
 * conversation's RPC method for it, which checks the reader again; always answered, as
 * in a window (src/conversation/frames.ts). Typing is the one frame dropped: relays
 * carry no typing (src/conversation/relays.ts).
 *
 * A socket's frames are handled one after another, so its sends keep their order. Each
 * frame is a request of its own: its id (RelayDO.webSocketMessage) goes with the calls it
 * makes to the conversation, so both objects' log lines for it carry it.
 */
import type { Env, Identity } from '../env.js';
import { AppError, type Result } from '../errors.js';
import { CLIENT_FRAME, CLIENT_FRAME_TYPES, CLOSE_CODES, type ClientFrame, type ServerFrame } from '../protocol/index.js';
import { answering, closeQuietly, readFrame, sendFrame } from '../objects/sockets.js';
import { conversationStub } from '../placement.js';
import { record } from '../metrics.js';
import { trace } from '../log.js';

export class RelayFrames {
  readonly #queues = new Map<WebSocket, Promise<void>>();

  constructor(
    private readonly env: Env,
    /** The socket's reader and its conversation, or null for a socket this relay does not know. */
    private readonly readerOf: (ws: WebSocket) => { reader: Identity; conversationId: string } | null,
  ) {}

  /** Queues a frame behind its socket's earlier ones. Never rejects. */
  receive(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const handled = (this.#queues.get(ws) ?? Promise.resolve()).then(() => this.handle(ws, message));
    this.#queues.set(ws, handled);
    void handled.then(() => {
      if (this.#queues.get(ws) === handled) this.#queues.delete(ws);
    });
    return handled;
  }

  private async handle(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const known = this.readerOf(ws);
    if (!known) return;
    const frame = readFrame(ws, message, CLIENT_FRAME, CLIENT_FRAME_TYPES);
    if (!frame) return;
    const names = { rid: frame.rid, cmid: frame.type === 'send' ? frame.cmid : undefined };
    const error = await answering(ws, names, () => this.dispatch(ws, known.reader, known.conversationId, frame), { conversationId: known.conversationId });
    if (error) record(this.env, { kind: 'rejection', wire: 'ws', code: error.code, route: `ws ${frame.type}` });
    // Refused as a reader (no longer a member, device signed out): the socket ends, as a window does.
    if (error?.code === 'conversation_not_found') closeQuietly(ws, CLOSE_CODES.forbidden, 'Not a member.');
    if (error?.code === 'device_revoked') closeQuietly(ws, CLOSE_CODES.deviceRevoked, 'This device has been signed out.');
  }

  private async dispatch(ws: WebSocket, reader: Identity, conversationId: string, frame: ClientFrame): Promise<void> {
    const conversation = conversationStub(this.env, conversationId);
    switch (frame.type) {
      case 'send': {
        const ack = unwrap(await conversation.send(reader, { cmid: frame.cmid, content: frame.content, replyToSeq: frame.replyToSeq }, trace()));
        sendFrame(ws, { type: 'ack', rid: frame.rid, ...ack } satisfies ServerFrame);
        record(this.env, { kind: 'send', wire: 'ws', outcome: ack.duplicate ? 'duplicate' : 'stored' });
        return;
      }
      case 'history': {
        const { type: _type, rid, ...query } = frame;
        sendFrame(ws, { type: 'history', rid, ...unwrap(await conversation.history(reader, query)) } satisfies ServerFrame);
        return;
      }
      case 'read': {
        const own = unwrap(await conversation.markRead(reader, frame.seq));
        sendFrame(ws, { type: 'watermark', rid: frame.rid, conversationId, deliveredSeq: own.deliveredSeq, readSeq: own.readSeq } satisfies ServerFrame);
        return;
      }
      case 'typing':
        return;
      case 'edit':
        sendFrame(ws, { type: 'done', rid: frame.rid, seq: unwrap(await conversation.edit(reader, frame.targetSeq, frame.content, trace())).seq } satisfies ServerFrame);
        return;
      case 'delete':
        sendFrame(ws, { type: 'done', rid: frame.rid, seq: unwrap(await conversation.deleteMessage(reader, frame.targetSeq, frame.scope, trace())).seq } satisfies ServerFrame);
        return;
      case 'react':
        sendFrame(ws, { type: 'done', rid: frame.rid, seq: unwrap(await conversation.react(reader, frame.targetSeq, frame.emoji, frame.op, trace())).seq } satisfies ServerFrame);
        return;
    }
  }
}

function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw AppError.from(result.error);
  return result.value;
}
