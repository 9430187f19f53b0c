/**
 * Every send gets an answer or is sent again: a wire that swallows one answer (a frame
 * lost while pings still pass) must not leave a message "sending" for ever. The resend
 * carries the same cmid, so the server stores it once.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConversationHandle } from '../../src/client/conversation.js';
import { HttpApi } from '../../src/client/http.js';
import { Outbox } from '../../src/client/outbox.js';
import { fakeWire, type FakeWire } from './fake-wire.js';

function handle(wire: FakeWire, ackDeadlineMs: number) {
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
    const wire = fakeWire({ openAt: 0 });
    const chat = handle(wire, 1_000);
    chat.start();
    const sending = chat.send('hello');
    await vi.advanceTimersByTimeAsync(0);
    expect(wire.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(wire.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(wire.cmids()).toEqual([wire.cmids()[0], wire.cmids()[0]]);
    const cmid = wire.cmids()[0]!;
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
    const wire = fakeWire({ openAt: 0 });
    const chat = handle(wire, 1_000);
    chat.start();
    const sending = chat.send('hello');
    await vi.advanceTimersByTimeAsync(0);
    const cmid = wire.cmids()[0]!;
    wire.signal({ type: 'error', cmid, error: { code: 'internal', message: 'try again' } as never });
    await vi.advanceTimersByTimeAsync(999);
    expect(wire.sent).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(wire.sent).toHaveLength(2);
    wire.signal({ type: 'ack', ack: { cmid, seq: 1, ts: 1, duplicate: false } });
    await expect(sending).resolves.toMatchObject({ seq: 1 });
  });
});
