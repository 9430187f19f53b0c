/**
 * The SDK against a real `wrangler dev`, through a proxy the test cuts to simulate
 * network loss. What an app relies on: nothing lost, nothing duplicated, order kept,
 * every send acked exactly once, catch-up after a long absence, typed errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient, ChatError, type Ack, type ConversationHandle, type MessageEvent } from '../../src/client/index.js';
import { startWrangler, type Wrangler } from './wrangler.js';
import { startProxy, type CutProxy } from './proxy.js';

const PORT = 8802;
let server: Wrangler;
let proxy: CutProxy;

beforeAll(async () => {
  server = await startWrangler(PORT);
  proxy = await startProxy(PORT);
}, 90_000);

afterAll(async () => {
  await proxy?.close();
  await server?.stop();
});

/** Short backoff and keepalive, so recoveries fit in a test. */
function newClient(): ChatClient {
  return new ChatClient({
    baseUrl: proxy.url,
    backoff: { initialDelayMs: 50, maxDelayMs: 400 },
    keepalive: { intervalMs: 500, timeoutMs: 1_000 },
    requestTimeoutMs: 2_000,
  });
}

async function signedUp(name: string): Promise<ChatClient> {
  const client = newClient();
  await client.register({ handle: `${name}_${crypto.randomUUID().slice(0, 8)}`, displayName: name, password: 'correct horse battery', deviceName: 'e2e' });
  // These tests send hundreds of messages a minute: service accounts, not people.
  await server.markService(client.user!.id);
  return client;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`timed out after ${ms} ms: ${what}`)))]);
}

function messagesOf(chat: ConversationHandle): MessageEvent[] {
  const got: MessageEvent[] = [];
  chat.on('message', (m) => got.push(m));
  return got;
}

const textOf = (m: MessageEvent) => (m.content?.type === 'text' ? m.content.text : '');
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('SDK end to end over a cut WebSocket', () => {
  it('exchanges 1,000 messages across 10 cuts: none lost, none doubled, order kept, each acked once', async () => {
    const [alice, bob] = await Promise.all([signedUp('alice'), signedUp('bob')]);
    const conversation = await alice.createDirect(bob.user!.id);
    const [aChat, bChat] = await Promise.all([alice.open(conversation.id), bob.open(conversation.id)]);
    const [aliceGot, bobGot] = [messagesOf(aChat), messagesOf(bChat)];
    const ackEvents = new Map<string, number>();
    for (const chat of [aChat, bChat]) chat.on('ack', (ack) => ackEvents.set(ack.cmid, (ackEvents.get(ack.cmid) ?? 0) + 1));
    await until(() => aChat.status === 'open' && bChat.status === 'open', 10_000, 'both open');

    const sent: { from: 'a' | 'b'; text: string; ack: Promise<Ack> }[] = [];
    const started = Date.now();
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 50; i++) {
        sent.push({ from: 'a', text: `a-${round}-${i}`, ack: aChat.send(`a-${round}-${i}`) });
        sent.push({ from: 'b', text: `b-${round}-${i}`, ack: bChat.send(`b-${round}-${i}`) });
      }
      // Mid-burst: part of this round is on the wire, part still queued, when the line drops.
      await sleep(5 + round * 8);
      proxy.cut(round % 2 === 0 ? 150 : 0);
      await sleep(60);
    }
    const acks = await within(Promise.all(sent.map((s) => s.ack)), 60_000, '1,000 acks');
    await until(() => aliceGot.length >= 1_000 && bobGot.length >= 1_000, 60_000, 'both to receive 1,000 messages');
    await sleep(300); // anything extra (a duplicate) would arrive now
    const elapsed = Date.now() - started;

    expect(acks.map((a) => a.seq).sort((x, y) => x - y)).toEqual(range(1, 1_000));
    expect(ackEvents.size).toBe(1_000);
    expect([...ackEvents.values()].every((n) => n === 1)).toBe(true);
    for (const got of [aliceGot, bobGot]) {
      expect(got.map((m) => m.seq)).toEqual(range(1, 1_000));
      expect(new Set(got.map((m) => m.cmid)).size).toBe(1_000);
      for (const who of ['a', 'b'] as const) {
        // Each sender's messages arrive in the order that sender sent them.
        expect(got.map(textOf).filter((t) => t.startsWith(`${who}-`))).toEqual(sent.filter((s) => s.from === who).map((s) => s.text));
      }
    }
    // Every ack names the seq the message really got.
    const seqByText = new Map(bobGot.map((m) => [textOf(m), m.seq]));
    sent.forEach((s, i) => expect(acks[i]!.seq).toBe(seqByText.get(s.text)));
    console.log(`1,000 messages, 10 cuts: ${elapsed} ms, ${proxy.accepted} proxied connections`);
    alice.close();
    bob.close();
  });

  it('catches up a client that was away for many pages of history, even across a cut', async () => {
    const [alice, bob] = await Promise.all([signedUp('alice'), signedUp('bob')]);
    const group = await alice.createGroup('catch-up', [bob.user!.id]);
    const aChat = await alice.open(group.id);
    const bFirst = await bob.open(group.id);
    const early = messagesOf(bFirst);
    await within(Promise.all(range(1, 30).map((i) => aChat.send(`early ${i}`))), 20_000, 'early sends');
    await until(() => early.length === 30, 10_000, 'bob to see the first 30');
    const resumeAfter = bFirst.lastSeq;
    bFirst.close();

    const away = 600; // six full pages of 100
    await within(Promise.all(range(1, away).map((i) => aChat.send(`while away ${i}`))), 60_000, 'sends while bob is away');
    const lastSeq = (await alice.conversation(group.id)).lastSeq;

    const bAgain = await bob.open(group.id, { after: resumeAfter });
    const later: number[] = [];
    bAgain.on('event', (e) => later.push(e.seq));
    await sleep(30);
    proxy.cut(100);
    await until(() => bAgain.lastSeq >= lastSeq, 30_000, 'bob to catch up');
    await sleep(200);
    expect(later).toEqual(range(resumeAfter + 1, lastSeq));
    alice.close();
    bob.close();
  });

  it('replaces a half-open socket found by the keepalive, and the send still lands once', async () => {
    const [alice, bob] = await Promise.all([signedUp('alice'), signedUp('bob')]);
    const conversation = await alice.createDirect(bob.user!.id);
    const aChat = await alice.open(conversation.id);
    const got = messagesOf(aChat);
    await until(() => aChat.status === 'open', 10_000, 'open');
    proxy.stall();
    const ack = aChat.send('through the silence');
    await until(() => aChat.status === 'reconnecting', 5_000, 'the keepalive to notice');
    expect((await within(ack, 10_000, 'ack after reconnect')).seq).toBe(1);
    await until(() => got.length === 1, 5_000, 'the message');
    proxy.cut(); // no stalled keep-alive connection may outlive this test
    alice.close();
    bob.close();
  });

  it('surfaces the server’s error codes as ChatError', async () => {
    const alice = await signedUp('alice');
    const stranger = await signedUp('stranger');
    const handle = alice.user!.handle;
    const wrong = await newClient().login({ handle, password: 'not the password', deviceName: 'e2e' }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(ChatError);
    expect(wrong).toMatchObject({ code: 'invalid_credentials', status: 401 });

    const group = await alice.createGroup('private');
    const intruder = await stranger.open(group.id);
    await until(() => intruder.status === 'closed', 10_000, 'the intruder to be turned away');
    expect(intruder.closedError?.code).toBe('conversation_not_found');
    await expect(intruder.send('let me in')).rejects.toMatchObject({ code: 'conversation_not_found' });

    const chat = await alice.open(group.id);
    await expect(chat.send('x'.repeat(5_000))).rejects.toMatchObject({ name: 'ChatError', code: 'invalid_request' });
    alice.close();
  });
});
