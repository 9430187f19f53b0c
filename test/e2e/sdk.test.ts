/**
 * The SDK against a real `wrangler dev`, through a proxy the test cuts to simulate
 * network loss. What an app relies on: nothing lost, nothing duplicated, order kept,
 * every send acked exactly once, catch-up after a long absence, typed errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient, ChatError } from '../../src/client/index.js';
import { serviceHandle } from './migrated-state.js';
import { startWrangler, type Wrangler } from './wrangler.js';
import { startProxy, type CutProxy } from './proxy.js';
import { exchangeThroughCuts, messagesOf, range, sleep, until, within } from './exchange.js';

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
  // These tests send hundreds of messages a minute: service accounts, not people.
  await client.register({ handle: serviceHandle(name), displayName: name, password: 'correct horse battery', deviceName: 'e2e' });
  return client;
}


describe('SDK end to end over a cut WebSocket', () => {
  it('exchanges 1,000 messages across 10 cuts: none lost, none doubled, order kept, each acked once', async () => {
    const [alice, bob] = await Promise.all([signedUp('alice'), signedUp('bob')]);
    const conversation = await alice.createDirect(bob.user!.id);
    const [aChat, bChat] = await Promise.all([alice.open(conversation.id), bob.open(conversation.id)]);
    await until(() => aChat.status === 'open' && bChat.status === 'open', 10_000, 'both open');
    const elapsed = await exchangeThroughCuts(aChat, bChat, proxy, { cutAfterMs: (round) => 5 + round * 8, ackTimeoutMs: 60_000 });
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
    await sleep(30); // a head start: the cut lands while bob is catching up, not before
    proxy.cut(100);
    await until(() => bAgain.lastSeq >= lastSeq, 30_000, 'bob to catch up');
    await sleep(200); // a quiet period: a duplicate would arrive now
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
    // Let fetch's pool see the resets of its idle connections first: a request sent at
    // once may still pick one and fail with ECONNRESET (it did, once, on a busy machine).
    await sleep(200);
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
