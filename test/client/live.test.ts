import { describe, expect, it } from 'vitest';
import { SocketTap, parseLiveFrame, type LiveFrame } from '../../src/client/live.js';
import type { WebSocketLike } from '../../src/client/transports/types.js';

const CONV = 'c_live';

/** Enough of a WebSocket for the tap: message listeners, readyState and send. */
class FakeSocket extends EventTarget {
  static instances: FakeSocket[] = [];
  readonly OPEN = 1;
  readyState = 0;
  sent: string[] = [];
  constructor(readonly url: string) {
    super();
    FakeSocket.instances.push(this);
  }
  send(text: string) {
    this.sent.push(text);
  }
  receive(text: string) {
    this.dispatchEvent(Object.assign(new Event('message'), { data: text }));
  }
}

describe('parseLiveFrame', () => {
  it('reads typing, receipts and hidden frames of its own conversation only', () => {
    expect(parseLiveFrame(JSON.stringify({ type: 'typing', conversationId: CONV, userId: 'u1', deviceId: 'd1', state: 'start', expiresInMs: 5000 }), CONV)).toEqual({
      type: 'typing',
      typing: { userId: 'u1', deviceId: 'd1', state: 'start', expiresInMs: 5000 },
    });
    expect(parseLiveFrame(JSON.stringify({ type: 'receipts', conversationId: CONV, watermarks: [{ userId: 'u1', deliveredSeq: 3, readSeq: 2 }] }), CONV)).toEqual({
      type: 'receipts',
      watermarks: [{ userId: 'u1', deliveredSeq: 3, readSeq: 2 }],
    });
    expect(parseLiveFrame(JSON.stringify({ type: 'hidden', conversationId: CONV, seq: 4 }), CONV)).toEqual({ type: 'hidden', seq: 4 });
    expect(parseLiveFrame(JSON.stringify({ type: 'hidden', conversationId: 'c_other', seq: 4 }), CONV)).toBeNull();
  });

  it('reads presence frames, which name no conversation (the window socket is the scope)', () => {
    expect(parseLiveFrame(JSON.stringify({ type: 'presence', userId: 'u1', online: false, lastSeenAt: 1700 }), CONV)).toEqual({
      type: 'presence',
      presence: { userId: 'u1', online: false, lastSeenAt: 1700 },
    });
    expect(parseLiveFrame(JSON.stringify({ type: 'presence', userId: 'u1', online: 'yes', lastSeenAt: null }), CONV)).toBeNull();
  });

  it('ignores other frames, malformed ones and non-JSON', () => {
    expect(parseLiveFrame('{"type":"pong"}', CONV)).toBeNull();
    expect(parseLiveFrame(JSON.stringify({ type: 'events', conversationId: CONV, events: [] }), CONV)).toBeNull();
    expect(parseLiveFrame(JSON.stringify({ type: 'typing', conversationId: CONV, state: 'dancing' }), CONV)).toBeNull();
    expect(parseLiveFrame('not json', CONV)).toBeNull();
  });
});

describe('SocketTap', () => {
  it('reports frames of the newest socket only, and writes on it only while open', () => {
    const frames: LiveFrame[] = [];
    const tap = new SocketTap(CONV, (f) => frames.push(f));
    const Tapped = tap.wrap(FakeSocket as unknown as WebSocketLike);
    const first = new Tapped('ws://x/1') as unknown as FakeSocket;
    expect(tap.send({ type: 'typing', state: 'start' })).toBe(false);
    first.readyState = 1;
    expect(tap.send({ type: 'typing', state: 'start' })).toBe(true);
    expect(first.sent).toEqual(['{"type":"typing","state":"start"}']);

    const second = new Tapped('ws://x/2') as unknown as FakeSocket;
    first.receive(JSON.stringify({ type: 'hidden', conversationId: CONV, seq: 1 }));
    second.receive(JSON.stringify({ type: 'hidden', conversationId: CONV, seq: 2 }));
    expect(frames).toEqual([{ type: 'hidden', seq: 2 }]);
    expect(tap.send({ type: 'typing', state: 'stop' })).toBe(false);
  });
});
