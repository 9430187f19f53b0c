/**
 * Every send gets an answer or is sent again: a wire that swallows one answer (a frame
 * lost while pings still pass) must not leave a message "sending" for ever. The resend
 * carries the same cmid, so the server stores it once.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConversationHandle } from '../../src/client/conversation.js';
import { HttpApi } from '../../src/client/http.js';
import { Outbox } from '../../src/client/outbox.js';
import type { Transport, TransportSignal } from '../../src/client/transports/types.js';
import type { MessageContent } from '../../src/protocol/index.js';

/** A wire that records what it is handed and answers only when the test says so. */
function fakeWire() {
  const sent: string[] = [];
  let signal: (s: TransportSignal) => void = () => {};
  const create = (emit: (s: TransportSignal) => void): Transport => {
    signal = emit;
    return {
      kind: 'websocket',
      start: () => emit({ type: 'open', lastSeq: 0 }),
      send: (message: { cmid: string; content: MessageContent }) => {
        sent.push(message.cmid);
        return true;
      },
      close: () => {},
    };
  };
  return { sent, create, signal: (s: TransportSignal) => signal(s) };
}

function handle(wire: ReturnType<typeof fakeWire>, ackDeadlineMs: number) {
  const api = new HttpApi('http://chat.invalid', async () => new Response('{}'), () => {});
  const chat = new ConversationHandle({ api, outbox: new Outbox(), conversationId: 'g_deadline', after: 0, createTransport: wire.create, ackDeadlineMs });
  return chat;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('the ack deadline', () => {
  it('resends with the same cmid when nothing answers in time, and resolves once on the late ack', async () => {
    vi.useFakeTimers();
    const wire = fakeWire();
    const chat = handle(wire, 1_000);
    chat.start();
    const sending = chat.send('hello');
    await vi.advanceTimersByTimeAsync(0);
    expect(wire.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(wire.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(wire.sent).toEqual([wire.sent[0], wire.sent[0]]);
    const cmid = wire.sent[0]!;
    const acks: string[] = [];
    chat.on('ack', (a) => acks.push(a.cmid));
    wire.signal({ type: 'ack', ack: { cmid, seq: 1, ts: 1, duplicate: false } });
    wire.signal({ type: 'ack', ack: { cmid, seq: 1, ts: 1, duplicate: true } });
    await expect(sending).resolves.toMatchObject({ cmid, seq: 1 });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(wire.sent).toHaveLength(2);
    expect(acks).toEqual([cmid]);
    expect(chat.pending()).toEqual([]);
  });

  it('an error answer stops the deadline (a retryable one is retried on its own schedule)', async () => {
    vi.useFakeTimers();
    const wire = fakeWire();
    const chat = handle(wire, 1_000);
    chat.start();
    const sending = chat.send('hello');
    await vi.advanceTimersByTimeAsync(0);
    const cmid = wire.sent[0]!;
    wire.signal({ type: 'error', cmid, error: { code: 'internal', message: 'try again' } as never });
    await vi.advanceTimersByTimeAsync(999);
    expect(wire.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(wire.sent).toHaveLength(2);
    wire.signal({ type: 'ack', ack: { cmid, seq: 1, ts: 1, duplicate: false } });
    await expect(sending).resolves.toMatchObject({ seq: 1 });
  });
});
