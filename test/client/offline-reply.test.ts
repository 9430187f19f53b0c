/**
 * A reply is a send: made while offline it waits in the outbox with what it answers
 * (`replyToSeq`), survives a reload, and goes once the wire is back, under the same cmid.
 */
import { describe, expect, it } from 'vitest';
import { ConversationHandle } from '../../src/client/conversation.js';
import { HttpApi } from '../../src/client/http.js';
import { MemoryOutboxStore, Outbox } from '../../src/client/outbox.js';
import { fakeWire, type FakeWire } from './fake-wire.js';

/** An HTTP API whose every request fails as an offline fetch does, counted. */
function offlineApi() {
  const calls: string[] = [];
  const api = new HttpApi(
    'http://chat.invalid',
    async (input) => {
      calls.push(String(input));
      throw new TypeError('Failed to fetch');
    },
    () => {},
  );
  return { api, calls };
}

function open(outbox: Outbox, wire: FakeWire, api: HttpApi) {
  const chat = new ConversationHandle({ api, outbox, conversationId: 'd_reply', after: 3, createTransport: wire.create });
  chat.start();
  return chat;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('a reply made offline', () => {
  it('is queued like a send, with its replyToSeq, and goes once when the wire is back', async () => {
    const wire = fakeWire();
    const { api, calls } = offlineApi();
    const store = new MemoryOutboxStore();
    const chat = open(new Outbox(store), wire, api);
    const queued: unknown[] = [];
    chat.on('queued', (q) => queued.push(q));

    const replying = chat.reply(2, 'yes, see you there');
    await tick();
    expect(queued).toEqual([{ cmid: expect.any(String), content: { type: 'text', text: 'yes, see you there' }, replyToSeq: 2 }]);
    const { cmid } = chat.pending()[0]!;
    expect(chat.pending()).toEqual([{ cmid, content: { type: 'text', text: 'yes, see you there' }, replyToSeq: 2 }]);
    expect(await store.load()).toMatchObject([{ cmid, replyToSeq: 2 }]);
    expect(calls).toEqual([]);
    expect(wire.sent).toEqual([]);

    wire.up(3);
    await tick();
    expect(wire.sent).toMatchObject([{ cmid, content: { type: 'text', text: 'yes, see you there' }, replyToSeq: 2 }]);
    wire.signal({ type: 'ack', ack: { cmid, seq: 4, ts: 1, duplicate: false } });
    await expect(replying).resolves.toMatchObject({ cmid, seq: 4 });
    expect(chat.pending()).toEqual([]);
    expect(await store.load()).toEqual([]);
    wire.up(3);
    await tick();
    expect(wire.sent).toHaveLength(1);
    expect(calls).toEqual([]);
  });

  it('naming no message is refused at once, before anything is queued', async () => {
    const chat = open(new Outbox(), fakeWire(), offlineApi().api);
    await expect(chat.reply(0, 'to nothing')).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/seq of a message/) });
    await expect(chat.reply(1.5, 'to half a message')).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/seq of a message/) });
    // A valid seq with an empty text is refused for the text, not the seq.
    await expect(chat.reply(1, '')).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/message is not valid/) });
    expect(chat.pending()).toEqual([]);
  });

  it('survives a reload: the restored outbox sends it with its replyToSeq under the same cmid', async () => {
    const store = new MemoryOutboxStore();
    const before = open(new Outbox(store), fakeWire(), offlineApi().api);
    void before.reply(1, 'after the reload').catch(() => undefined);
    await tick();
    const { cmid } = before.pending()[0]!;
    before.close();

    const outbox = new Outbox(store);
    await outbox.restore();
    const wire = fakeWire();
    const after = open(outbox, wire, offlineApi().api);
    expect(after.pending()).toEqual([{ cmid, content: { type: 'text', text: 'after the reload' }, replyToSeq: 1 }]);
    wire.up(3);
    await tick();
    expect(wire.sent).toMatchObject([{ cmid, content: { type: 'text', text: 'after the reload' }, replyToSeq: 1 }]);
  });
});
