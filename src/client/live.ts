/**
 * @module client/live
 * The ephemeral side of a chat window: typing, coalesced receipt watermarks, "hidden
 * for me" notices and members' presence changes. They are never stored and carry no seq, so they bypass the ordered
 * event stream: the SDK watches the frames of the transport's current WebSocket (through
 * a constructor wrapper, without the transport knowing) and can write a typing frame on
 * it. On a transport without a socket nothing arrives here: typing then comes and goes
 * through the transport itself (the conversation's feed, `POST …/typing`), receipts can
 * be read over HTTP (`ConversationHandle.receipts()`), presence asked for.
 */
import { HiddenFrame, PresenceFrame, ReceiptsFrame, TypingEventFrame, parseBoundedJson, type Presence, type Watermark } from '../protocol/index.js';
import type { WebSocketLike } from './transports/types.js';
import { typingSignalOf, type TypingSignal } from './wire.js';

export type { TypingSignal } from './wire.js';

export type LiveFrame =
  | { type: 'typing'; typing: TypingSignal }
  | { type: 'receipts'; watermarks: Watermark[] }
  | { type: 'hidden'; seq: number }
  | { type: 'presence'; presence: Presence };

/** Parses one server text frame into a live frame for `conversationId`, or null if it is none. */
export function parseLiveFrame(text: string, conversationId: string): LiveFrame | null {
  const parsed = parseBoundedJson(text, Number.MAX_SAFE_INTEGER);
  if (!parsed.ok || parsed.value === null || typeof parsed.value !== 'object') return null;
  const type = (parsed.value as { type?: unknown }).type;
  if (type === 'typing') {
    const frame = TypingEventFrame.safeParse(parsed.value);
    return frame.success && frame.data.conversationId === conversationId ? { type: 'typing', typing: typingSignalOf(frame.data) } : null;
  }
  if (type === 'receipts') {
    const frame = ReceiptsFrame.safeParse(parsed.value);
    return frame.success && frame.data.conversationId === conversationId ? { type: 'receipts', watermarks: frame.data.watermarks } : null;
  }
  if (type === 'hidden') {
    const frame = HiddenFrame.safeParse(parsed.value);
    return frame.success && frame.data.conversationId === conversationId ? { type: 'hidden', seq: frame.data.seq } : null;
  }
  if (type === 'presence') {
    // Carries no conversation id: the socket it came on is this conversation's window.
    const frame = PresenceFrame.safeParse(parsed.value);
    if (!frame.success) return null;
    const { userId, online, lastSeenAt } = frame.data;
    return { type: 'presence', presence: { userId, online, lastSeenAt } };
  }
  return null;
}

/**
 * Wraps a WebSocket constructor so every socket it makes reports its text frames to
 * `onFrame`, and remembers the newest socket so a frame can be written on it.
 */
export class SocketTap {
  #current: WebSocket | null = null;
  readonly #conversationId: string;
  readonly #onFrame: (frame: LiveFrame) => void;

  constructor(conversationId: string, onFrame: (frame: LiveFrame) => void) {
    this.#conversationId = conversationId;
    this.#onFrame = onFrame;
  }

  wrap(Base: WebSocketLike): WebSocketLike {
    // Inside the class `this` is the socket.
    const tap = this;
    return class TappedWebSocket extends Base {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        tap.#current = this;
        // A listener, not `onmessage`: the transport owns that property.
        this.addEventListener('message', (event: MessageEvent) => {
          if (this !== tap.#current || typeof event.data !== 'string') return;
          const frame = parseLiveFrame(event.data, tap.#conversationId);
          if (frame) tap.#onFrame(frame);
        });
      }
    };
  }

  /** Writes `frame` on the current socket if it is open; false otherwise (the frame is dropped). */
  send(frame: object): boolean {
    const ws = this.#current;
    if (!ws || ws.readyState !== ws.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }
}
