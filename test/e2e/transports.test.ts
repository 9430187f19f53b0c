/**
 * The three transports against a real `wrangler dev`, through a proxy the test cuts and
 * that can refuse WebSocket upgrades or the SSE path, as restrictive proxies do. What an
 * app relies on, on every wire: nothing lost, nothing duplicated, order kept; and that
 * the SDK finds a wire that works by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient, type FetchLike, type StreamStatus, type TransportKind } from '../../src/client/index.js';
import { serviceHandle } from './migrated-state.js';
import { startWrangler, type Wrangler } from './wrangler.js';
import { startProxy, type CutProxy } from './proxy.js';
import { exchangeThroughCuts, messagesOf, range, textOf, until, within } from './exchange.js';

const PORT = 8808;
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

/** Short backoff, keepalive and holds, so recoveries fit in a test. */
function newClient(transport: 'auto' | TransportKind, fetchFn: FetchLike = fetch): ChatClient {
  return new ChatClient({
    baseUrl: proxy.url,
    transport,
    fetch: fetchFn,
    backoff: { initialDelayMs: 50, maxDelayMs: 400 },
    keepalive: { intervalMs: 500, timeoutMs: 1_000 },
    requestTimeoutMs: 3_000,
    fallback: { failuresBeforeFallback: 2, upgradeAfterMs: 2_000 },
    streamTiming: { pollHoldMs: 2_000, pollMarginMs: 2_000, sseDeadlineMs: 20_000, ackDelayMs: 200 },
  });
}

async function signedUp(name: string, transport: 'auto' | TransportKind, fetchFn?: FetchLike): Promise<ChatClient> {
  const client = newClient(transport, fetchFn);
  // These tests send a thousand messages in a burst: service accounts, not people.
  await client.register({ handle: serviceHandle(name), displayName: name, password: 'correct horse battery', deviceName: 'e2e' });
  return client;
}


describe.each(['websocket', 'sse', 'long-poll'] as const)('1,000 messages over %s, cut 10 times', (transport) => {
  it('none lost, none doubled, order kept, each acked once', async () => {
    proxy.refuse(null);
    const [alice, bob] = await Promise.all([signedUp('alice', transport), signedUp('bob', transport)]);
    const conversation = await alice.createDirect(bob.user!.id);
    const [aChat, bChat] = await Promise.all([alice.open(conversation.id), bob.open(conversation.id)]);
    await until(() => aChat.status === 'open' && bChat.status === 'open', 15_000, 'both open');
    expect([aChat.transport, bChat.transport, alice.transport?.kind]).toEqual([transport, transport, transport]);
    const accepted = proxy.accepted;
    const elapsed = await exchangeThroughCuts(aChat, bChat, proxy, { cutAfterMs: (round) => 20 + round * 15, ackTimeoutMs: 90_000 });
    console.log(`${transport}: 1,000 messages, 10 cuts: ${elapsed} ms, ${proxy.accepted - accepted} proxied connections`);
    alice.close();
    bob.close();
  });
});

describe("a conversation's own feed", () => {
  it('is read by a conversation open over SSE and one over long polling, and carries a message another client sends', async () => {
    proxy.refuse(null);
    const requested = { sse: [] as string[], 'long-poll': [] as string[] };
    const recording =
      (into: string[]): FetchLike =>
      (input, init) => {
        into.push(new URL(input).pathname);
        return fetch(input, init);
      };
    // Alice's second device logs in rather than registers: the file stays within the registrations one address may make per hour.
    const handle = `alice_${crypto.randomUUID().slice(0, 8)}`;
    const aliceSse = newClient('sse', recording(requested.sse));
    await aliceSse.register({ handle, displayName: 'alice', password: 'correct horse battery', deviceName: 'e2e sse' });
    const alicePoll = newClient('long-poll', recording(requested['long-poll']));
    await alicePoll.login({ handle, password: 'correct horse battery', deviceName: 'e2e long-poll' });
    const bob = await signedUp('bob', 'websocket');
    const conversation = await aliceSse.createDirect(bob.user!.id);
    const chats = await Promise.all([aliceSse.open(conversation.id), alicePoll.open(conversation.id), bob.open(conversation.id)]);
    const [sseChat, pollChat, bChat] = chats;
    const got = [messagesOf(sseChat), messagesOf(pollChat)];
    await until(() => chats.every((c) => c.status === 'open'), 15_000, 'all three open');
    expect([sseChat.transport, pollChat.transport]).toEqual(['sse', 'long-poll']);
    const feed = `/v1/conversations/${conversation.id}`;
    await until(() => requested.sse.includes(`${feed}/stream`) && requested['long-poll'].includes(`${feed}/poll`), 10_000, 'the feed requests');
    await within(bChat.send('over the feed'), 10_000, "Bob's send");
    await until(() => got.every((messages) => messages.length > 0), 10_000, "Bob's message on both of Alice's devices");
    expect(got.map((messages) => messages.map(textOf))).toEqual([['over the feed'], ['over the feed']]);
    for (const client of [aliceSse, alicePoll, bob]) client.close();
  });
});

describe('automatic fallback', () => {
  it('falls back to SSE when upgrades are refused, to long polling when SSE is blocked too, and upgrades back to WebSocket', async () => {
    // Bob long-polls, which no block below touches; Alice's client has to find its own way.
    const [alice, bob] = await Promise.all([signedUp('alice', 'auto'), signedUp('bob', 'long-poll')]);
    const conversation = await alice.createDirect(bob.user!.id);
    const bChat = await bob.open(conversation.id);
    const bobGot = messagesOf(bChat);
    const statuses: StreamStatus[] = [];
    alice.on('transport', (s) => statuses.push(s));

    proxy.refuse(/upgrade: websocket/i);
    const aChat = await alice.open(conversation.id);
    const aliceGot = messagesOf(aChat);
    await until(() => alice.transport?.kind === 'sse' && alice.transport.state === 'open' && aChat.status === 'open', 20_000, 'SSE');
    expect(aChat.transport).toBe('sse');
    await within(aChat.send('over SSE'), 10_000, 'a send over SSE');
    await within(bChat.send('to SSE'), 10_000, 'a send to SSE');
    await until(() => aliceGot.some((m) => textOf(m) === 'to SSE'), 10_000, 'a message over SSE');

    proxy.refuse(/upgrade: websocket|\/v1\/inbox\/events/i);
    proxy.cut();
    await until(() => alice.transport?.kind === 'long-poll' && alice.transport.state === 'open' && aChat.status === 'open', 20_000, 'long polling');
    expect(aChat.transport).toBe('long-poll');
    await within(aChat.send('over long polling'), 10_000, 'a send over long polling');
    await within(bChat.send('to long polling'), 10_000, 'a send to long polling');
    await until(() => aliceGot.some((m) => textOf(m) === 'to long polling'), 10_000, 'a message over long polling');

    proxy.refuse(null);
    await until(() => alice.transport?.kind === 'websocket' && alice.transport.state === 'open' && aChat.status === 'open', 20_000, 'the upgrade back');
    expect(aChat.transport).toBe('websocket');
    await within(bChat.send('to WebSocket'), 10_000, 'a send to WebSocket');
    await until(() => aliceGot.some((m) => textOf(m) === 'to WebSocket'), 10_000, 'a message over WebSocket again');

    expect(statuses.map((s) => s.kind).filter((k, i, all) => k !== all[i - 1])).toEqual(['websocket', 'sse', 'long-poll', 'websocket']);
    expect(proxy.refused).toBeGreaterThan(0);
    await until(() => bobGot.length === 5, 10_000, 'Bob to see all five');
    expect(aliceGot.map((m) => m.seq)).toEqual(range(1, 5));
    expect(bobGot.map(textOf)).toEqual(['over SSE', 'to SSE', 'over long polling', 'to long polling', 'to WebSocket']);
    alice.close();
    bob.close();
  });
});
