import { describe, expect, it } from 'vitest';
import { parseServerFrame, type IncomingEvent } from '../../src/client/wire.js';
import { ReorderBuffer } from '../../src/client/reorder.js';

const author = { userId: 'u_alice', deviceId: 'd_phone' };
const message = (seq: number) => ({ seq, ts: 1, author, type: 'message', cmid: `cmid${String(seq).padStart(8, '0')}`, content: { type: 'text', text: `m${seq}` } });

describe('tolerant server frame parsing', () => {
  it('keeps events of unknown types (and unknown shapes) as placeholders that still advance the cursor', () => {
    const frame = parseServerFrame(
      JSON.stringify({
        type: 'events',
        conversationId: 'c1',
        events: [message(1), { seq: 2, ts: 1, author, type: 'poll_created', question: '?' }, { ...message(3), content: { type: 'sticker', id: 's' } }, message(4), { type: 'no_seq' }],
      }),
    );
    expect(frame.type).toBe('events');
    if (frame.type !== 'events') return;
    expect(frame.events.map((e) => [e.seq, e.type, e.event !== null])).toEqual([
      [1, 'message', true],
      [2, 'poll_created', false],
      [3, 'message', false],
      [4, 'message', true],
    ]);
    const buffer = new ReorderBuffer<IncomingEvent>();
    expect(buffer.push(frame.events).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(buffer.missing()).toBeNull();
  });

  it('passes unknown error codes through instead of failing', () => {
    expect(parseServerFrame(JSON.stringify({ type: 'error', cmid: 'cmid00000001', code: 'quota_exceeded', message: 'later', retryAfterMs: 5 }))).toEqual({
      type: 'error',
      cmid: 'cmid00000001',
      error: { code: 'quota_exceeded', message: 'later', retryAfterMs: 5 },
    });
  });

  it('ignores unknown frame types, non-JSON, and recognises the pong', () => {
    expect(parseServerFrame('{"type":"presence","online":true}')).toEqual({ type: 'unknown' });
    expect(parseServerFrame('not json')).toEqual({ type: 'unknown' });
    expect(parseServerFrame('{"type":"pong"}')).toEqual({ type: 'pong' });
  });

  it('reads a valid ack and rejects a malformed one', () => {
    expect(parseServerFrame(JSON.stringify({ type: 'ack', cmid: 'cmid00000001', seq: 7, ts: 1, duplicate: false }))).toEqual({
      type: 'ack',
      ack: { cmid: 'cmid00000001', seq: 7, ts: 1, duplicate: false },
    });
    expect(parseServerFrame(JSON.stringify({ type: 'ack', cmid: 'cmid00000001', seq: 'seven' }))).toEqual({ type: 'unknown' });
  });
});
