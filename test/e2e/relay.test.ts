/**
 * Relays over a real `wrangler dev`, at a size CI can afford: 300 raw chat-window sockets
 * (plus one SDK client) on a conversation whose live readers go through relays of at
 * most 100 sockets each (RELAY_MIN_MEMBERS and RELAY_MAX_SOCKETS set for this run), so
 * at least three relays. Every socket must get every event once, in seq order; the SDK
 * joins a relay through the same route as any chat window.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/client/index.js';
import { CLOSE_CODES, type ServerFrame } from '../../src/protocol/index.js';
import { WINDOWS_PER_DEVICE } from '../../src/ratelimit/rules.js';
import { serviceHandle } from './migrated-state.js';
import { startWrangler, type Wrangler } from './wrangler.js';
import { messagesOf, range, until } from './exchange.js';

const PORT = 8970;
/** RELAY_E2E_SOCKETS raises it for a run by hand (each socket costs wrangler dev ~6 file descriptors). */
const SOCKETS = Number(process.env.RELAY_E2E_SOCKETS) || 300;
const MAX_SOCKETS_PER_RELAY = 100;
/** Reader accounts: connect tickets are limited per device (600 a minute on a service account). */
const READERS = Math.ceil(SOCKETS / 250) + 3;
const MESSAGES = 100;
/** Concurrent sends: the log orders them; each socket must see that order. */
const SEND_CONCURRENCY = 10;
let server: Wrangler;

beforeAll(async () => {
  server = await startWrangler(PORT, { RELAY_MIN_MEMBERS: '2', RELAY_MAX_SOCKETS: String(MAX_SOCKETS_PER_RELAY) });
}, 90_000);

afterAll(async () => {
  await server?.stop();
});

async function signedUp(name: string): Promise<ChatClient> {
  const client = new ChatClient({ baseUrl: server.url, transport: 'websocket' });
  // Hundreds of connect tickets a minute from one device: a service account, not a person.
  await client.register({ handle: serviceHandle(name), displayName: name, password: 'correct horse battery', deviceName: 'e2e' });
  return client;
}

interface RawSocket {
  ws: WebSocket;
  ready: number | null;
  seqs: number[];
  closed: number | null;
}

/** A chat-window socket as a bare WebSocket, keeping every event's seq as it arrives. */
async function rawWindow(client: ChatClient, conversationId: string): Promise<RawSocket> {
  const res = await fetch(`${server.url}/v1/auth/tickets`, { method: 'POST', headers: { authorization: `Bearer ${client.session!.accessToken}` } });
  if (res.status !== 201) throw new Error(`ticket: ${res.status} ${await res.text()}`);
  const { ticket } = (await res.json()) as { ticket: string };
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/conversations/${conversationId}/ws?ticket=${ticket}`);
  const socket: RawSocket = { ws, ready: null, seqs: [], closed: null };
  ws.addEventListener('message', (e) => {
    const frame = JSON.parse(String(e.data)) as ServerFrame;
    if (frame.type === 'ready') socket.ready = frame.lastSeq;
    if (frame.type === 'events') socket.seqs.push(...frame.events.map((ev) => ev.seq));
  });
  ws.addEventListener('close', (e) => {
    socket.closed = e.code;
  });
  await until(() => socket.ready !== null || socket.closed !== null, 10_000, 'ready');
  if (socket.ready === null) throw new Error(`refused: ${socket.closed}`);
  return socket;
}

/** A message over HTTP (the poster holds no socket). */
async function post(client: ChatClient, conversationId: string, text: string): Promise<void> {
  const res = await fetch(`${server.url}/v1/conversations/${conversationId}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${client.session!.accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ cmid: crypto.randomUUID(), content: { type: 'text', text } }),
  });
  if (res.status !== 201) throw new Error(`send: ${res.status} ${await res.text()}`);
}

/** Relays that stored anything under this run's persist dir (one SQLite file per object). */
function relayObjects(): number {
  const dir = join(resolve(import.meta.dirname, '../..'), '.wrangler', `e2e-${PORT}`, 'v3', 'do', 'edge-chat-RelayDO');
  return readdirSync(dir).filter((f) => /^[0-9a-f]{64}\.sqlite$/.test(f)).length;
}

describe('a channel over relays', () => {
  it(`${SOCKETS} sockets across relays of ${MAX_SOCKETS_PER_RELAY} get ${MESSAGES} events each, once, in order`, async () => {
    const poster = await signedUp('poster');
    const readers = await Promise.all(Array.from({ length: READERS }, (_, i) => signedUp(`reader${i}`)));
    const conversation = await poster.createGroup('channel', readers.map((r) => r.user!.id));
    const sockets: RawSocket[] = [];
    // A few upgrades at a time: the machine is shared.
    for (let i = 0; i < SOCKETS; i += 20) {
      sockets.push(...(await Promise.all(Array.from({ length: Math.min(20, SOCKETS - i) }, (_, j) => rawWindow(readers[(i + j) % READERS]!, conversation.id)))));
    }
    const sdkChat = await readers[0]!.open(conversation.id);
    const sdkMessages = messagesOf(sdkChat);
    await until(() => sdkChat.status === 'open', 15_000, 'the SDK chat open');
    expect(relayObjects()).toBeGreaterThanOrEqual(Math.ceil(SOCKETS / MAX_SOCKETS_PER_RELAY));

    const started = Date.now();
    for (let n = 0; n < MESSAGES; n += SEND_CONCURRENCY) {
      await Promise.all(Array.from({ length: SEND_CONCURRENCY }, (_, k) => post(poster, conversation.id, `post ${n + k}`)));
    }
    await until(() => sockets.every((s) => s.seqs.length >= MESSAGES), 60_000, 'every socket has every event');
    const elapsed = Date.now() - started;
    for (const s of sockets) {
      expect(s.ready).toBe(0);
      expect(s.seqs).toEqual(range(1, MESSAGES));
      expect(s.closed).toBeNull();
    }
    await until(() => sdkMessages.length >= MESSAGES, 30_000, 'the SDK chat has every message');
    expect(sdkMessages.map((m) => m.seq)).toEqual(range(1, MESSAGES));
    console.log(`relay e2e: ${SOCKETS} sockets on ${relayObjects()} relays, ${MESSAGES} messages, ${SOCKETS * MESSAGES} deliveries in ${elapsed} ms`);
    for (const s of sockets) s.ws.close(1000, 'done');
    for (const c of [poster, ...readers]) c.close();
  }, 600_000);

  it('a device keeps at most WINDOWS_PER_DEVICE windows on a relay: one more closes its oldest with 4009', async () => {
    const poster = await signedUp('poster');
    // A person, not a service: its tier's window cap applies.
    const person = new ChatClient({ baseUrl: server.url, transport: 'websocket' });
    await person.register({ handle: `person_${crypto.randomUUID().slice(0, 8)}`, displayName: 'person', password: 'correct horse battery', deviceName: 'e2e' });
    const conversation = await poster.createGroup('channel', [person.user!.id]);
    const cap = WINDOWS_PER_DEVICE.new;
    const windows: RawSocket[] = [];
    for (let i = 0; i < cap; i++) windows.push(await rawWindow(person, conversation.id));
    windows.push(await rawWindow(person, conversation.id));
    // The relay closes it as it accepts the new one; the client hears of it once the close
    // handshake has gone through wrangler dev's proxy, which took over 10 s once in a loaded suite.
    await until(() => windows[0]!.closed !== null, 30_000, 'the oldest window closed');
    expect(windows[0]!.closed).toBe(CLOSE_CODES.replaced);
    await post(poster, conversation.id, 'after the cap');
    await until(() => windows.slice(1).every((w) => w.seqs.length === 1), 15_000, 'the open windows have the message');
    expect(windows.slice(1).map((w) => w.closed)).toEqual(Array(cap).fill(null));
    expect(windows[0]!.seqs).toEqual([]);
    for (const w of windows) w.ws.close(1000, 'done');
    for (const c of [poster, person]) c.close();
  }, 120_000);
});
