/**
 * `open(id, { after: 'latest' })`: a conversation opened without knowing its head (e.g.
 * offline) starts at the head the wire reports on its first `open`; events before that
 * are left to `history()`, and sends made before it go out once it is up. And the web
 * client's reconciliation of local sends with the timeline, by cmid.
 */
import { describe, expect, it } from 'vitest';
import { ConversationHandle } from '../../src/client/conversation.js';
import { HttpApi } from '../../src/client/http.js';
import { Outbox } from '../../src/client/outbox.js';
import type { MessageEvent } from '../../src/protocol/index.js';
import { fakeWire } from './fake-wire.js';
import { reconcileSends, type LocalSend } from '../../src/web/lib/sends.js';

function message(seq: number, cmid = `cmid_${seq}_xxxxxxxx`): MessageEvent {
  return { type: 'message', seq, ts: seq, author: { userId: 'u_a', deviceId: 'd_a' }, cmid, content: { type: 'text', text: `m${seq}` } } as MessageEvent;
}

describe("open with after: 'latest'", () => {
  it('starts at the head of the first open: lastSeq is the head when status says open; earlier events are dropped, later ones delivered', async () => {
    const wire = fakeWire();
    const api = new HttpApi('http://chat.invalid', async () => new Response('{}'), () => {});
    const chat = new ConversationHandle({ api, outbox: new Outbox(), conversationId: 'g_latest', after: 'latest', createTransport: wire.create });
    const seen: number[] = [];
    let headAtOpen = -1;
    chat.on('event', (e) => seen.push(e.seq));
    chat.on('status', (s) => {
      if (s === 'open') headAtOpen = chat.lastSeq;
    });
    chat.start();
    const entered = new Promise((resolve) => chat.once('queued', resolve));
    const queued = chat.send('written offline');
    await entered;
    // An event before the wire is up says nothing about where to start.
    wire.signal({ type: 'events', conversationId: 'g_latest', events: [{ seq: 3, type: 'message', event: message(3) }] });
    wire.signal({ type: 'open', lastSeq: 41 });
    expect(headAtOpen).toBe(41);
    wire.signal({ type: 'events', conversationId: 'g_latest', events: [{ seq: 42, type: 'message', event: message(42) }] });
    expect(seen).toEqual([42]);
    expect(chat.lastSeq).toBe(42);
    // A reconnect later does not move the start again.
    wire.signal({ type: 'down', reason: 'cut' });
    wire.signal({ type: 'open', lastSeq: 42 });
    expect(chat.lastSeq).toBe(42);
    chat.close();
    await expect(queued).rejects.toMatchObject({ code: 'closed' });
  });
});

describe('reconcileSends', () => {
  it('drops the local copy of a send whose message the timeline shows, and keeps the others', () => {
    const timeline = new Map([[5, message(5, 'aaaaaaaaaaaaaaaa')]]);
    const sending = new Map<string, LocalSend>([
      ['aaaaaaaaaaaaaaaa', { cmid: 'aaaaaaaaaaaaaaaa', content: { type: 'text', text: 'm5' }, state: 'acked' }],
      ['bbbbbbbbbbbbbbbb', { cmid: 'bbbbbbbbbbbbbbbb', content: { type: 'text', text: 'later' }, state: 'sending' }],
    ]);
    reconcileSends(timeline, sending);
    expect([...sending.keys()]).toEqual(['bbbbbbbbbbbbbbbb']);
  });
});
