/**
 * Crashes: `wrangler dev` killed with SIGKILL in the middle of bursts and restarted on
 * the same persisted state, three times, with devices on every wire (one of them
 * reloading its app while the server is down, its outbox kept). Every acked message is
 * stored exactly once and shown once, in order, by every device; each recovery (server
 * back → every device connected and caught up) is timed per wire.
 *
 * Idempotency, on the same server: every send made up to five times at once with one
 * cmid, some copies as HTTP posts and some as `send` frames on chat-window WebSockets,
 * each copy retried, across a crash. Each cmid is stored once, and every answer names
 * the seq it is stored at. (The SDK outbox's replay of a cmid across a crash and an app
 * reload is the crash scenario's: alice-2 reloads while the server is down.)
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeVerdict } from './checker.js';
import { describeRecovery, recoveryByWire, recoveryOf, report, type Recovery } from './figures.js';
import { sleep, spawnFleet, type Device } from './fleet.js';
import type { PostAnswer } from './ipc.js';
import { readHistory } from './oracle.js';
import { rng, runSeed, type Rng } from './prng.js';
import { openAll, sendBursts, serviceHandle, settle, verdictOf, type RunConversation } from './scenario.js';
import { startServer, type Server } from './server.js';
import { SETTLE_TIMEOUT_MS, SIZES } from './sizes.js';

const PORT = 8833;
let server: Server;
let devices: Device[] = [];
let conversations: RunConversation[] = [];
let random: Rng;
let seed: number;

beforeAll(async () => {
  seed = runSeed();
  console.log(`[reliability] crash seed ${seed} (replay: RELIABILITY_SEED=${seed})`);
  random = rng(seed);
  server = await startServer(PORT);
  const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map(serviceHandle) as [string, string, string, string];
  devices = await spawnFleet(
    [
      { name: 'alice-1', wire: 'websocket', handle: alice, register: true },
      { name: 'alice-2', wire: 'sse', handle: alice, register: false },
      { name: 'bob-1', wire: 'long-poll', handle: bob, register: true },
      { name: 'bob-2', wire: 'websocket', handle: bob, register: false },
      { name: 'carol', wire: 'sse', handle: carol, register: true },
      { name: 'dave', wire: 'long-poll', handle: dave, register: true },
    ],
    server.url,
  );
  const [alice1, alice2, bob1, bob2] = devices as [Device, Device, Device, Device];
  const direct = await alice1.call<string>({ op: 'createDirect', peerId: bob1.userId });
  const group = await alice1.call<string>({ op: 'createGroup', title: 'crash', memberIds: devices.slice(2).map((d) => d.userId).filter((id, i, all) => all.indexOf(id) === i) });
  conversations = [
    { id: direct, name: 'direct', viewers: [alice1, alice2, bob1, bob2], inboxReaders: [alice1, alice2, bob1, bob2] },
    { id: group, name: 'group', viewers: devices, inboxReaders: devices },
  ];
  await openAll(conversations);
}, 120_000);

afterAll(async () => {
  devices.forEach((d) => d.stop());
  await server?.stop();
});

it('crash: SIGKILL mid-burst and restart on the same state, 3 times: every acked message stored once, every device caught up', { timeout: 600_000 }, async () => {
  const started = Date.now();
  const { messages, kills } = SIZES.crash;
  const [alice1, alice2, bob1, bob2] = devices as [Device, Device, Device, Device];
  const senders = [
    ...[alice1, alice2, bob1, bob2].map((device) => ({ device, c: conversations[0]!.id })),
    ...devices.map((device) => ({ device, c: conversations[1]!.id })),
  ];
  const recoveries: Recovery[] = [];
  const outages: { downMs: number; healthyAfterMs: number }[] = [];
  for (let kill = 0; kill < kills; kill++) {
    const share = Math.floor(messages / kills);
    const span = 1_500;
    const burst = sendBursts(senders, share, span, random, `k${kill}`);
    await sleep(random.int(200, span - 200));
    const killedAt = Date.now();
    await server.kill();
    // While it is down, one device reloads its app (outbox kept, as IndexedDB would).
    if (kill === 1) await alice2.call({ op: 'reload' });
    await burst; // the rest of the burst goes into the outboxes
    await sleep(random.int(300, 1_500));
    await server.restart();
    const t0 = Date.now();
    outages.push({ downMs: t0 - killedAt, healthyAfterMs: t0 - killedAt });
    const heads = await settle(server.url, conversations, SETTLE_TIMEOUT_MS);
    recoveries.push(...devices.map((d) => recoveryOf(d, t0, heads)));
  }
  const verdict = await verdictOf(server.url, conversations, devices);
  const byWire = recoveryByWire(recoveries);
  report(
    'crash',
    { seed, kills, outages, totals: verdict.totals, conversations: verdict.conversations, devices: verdict.devices, recovery: byWire, recoveries, elapsedMs: Date.now() - started },
    [
      `seed ${seed}: ${messages} messages from ${devices.length} devices, wrangler dev SIGKILLed ${kills} times mid-burst (down ${outages.map((o) => o.downMs).join(', ')} ms incl. restart)`,
      describeVerdict(verdict),
      `recovery after each restart: ${describeRecovery(byWire)}`,
      `run ${Date.now() - started} ms`,
    ].join('\n'),
  );
  expect(verdict.problems).toEqual([]);
  expect(verdict.totals).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0, viewDiffers: 0, failed: 0 });
  expect(verdict.totals.acked).toBe(verdict.conversations.reduce((n, c) => n + c.queued, 0));
});

it('idempotency: each send made up to 5 times at once with one cmid over HTTP and WebSocket, retried, across a crash: stored once, every answer names its seq', { timeout: 300_000 }, async () => {
  const started = Date.now();
  const { messages, kills } = SIZES.idempotency;
  const group = conversations[1]!;
  const sends = Array.from({ length: messages }, (_, i) => {
    const copies = random.int(1, 5);
    // Some copies as HTTP posts, the others as send frames on sockets of their own, all at once.
    const overSocket = random.int(0, copies);
    return {
      device: random.pick(devices),
      cmid: Array.from({ length: 32 }, () => random.int(0, 15).toString(16)).join(''),
      text: `idem-${i}`,
      copies,
      overSocket,
      answers: [] as (PostAnswer & { over: 'http' | 'websocket' })[],
    };
  });
  const post = async (s: (typeof sends)[number], over: 'http' | 'websocket', copies: number, attempts: number) => {
    const answers = await s.device.post(group.id, s.cmid, s.text, copies, attempts, 1_000, over);
    s.answers.push(...answers.map((a) => ({ ...a, over })));
  };
  // Round 1: all copies at once, in waves of 10 sends; the server is killed in the middle.
  const killAt = Math.floor(messages / 2);
  let killed: Promise<void> | null = null;
  for (let i = 0; i < sends.length; i += 10) {
    const wave = sends.slice(i, i + 10);
    const posted = Promise.all(wave.flatMap((s) => [post(s, 'http', s.copies - s.overSocket, 5), post(s, 'websocket', s.overSocket, 5)]));
    if (kills > 0 && !killed && i >= killAt) {
      killed = (async () => {
        await sleep(random.int(5, 60));
        await server.kill();
        await sleep(500);
        await server.restart();
      })();
    }
    await posted;
  }
  await killed;
  // Round 2: every send once more, over either path, as a client that never saw an answer would.
  await Promise.all(sends.map((s) => post(s, random.pick(['http', 'websocket'] as const), 1, 10)));

  const token = await devices[0]!.call<string>({ op: 'token' });
  const history = await readHistory(server.url, token, group.id);
  let storedOnce = 0;
  let storedTwice = 0;
  let missing = 0;
  let wrongAnswers = 0;
  let firstAnswers = 0;
  for (const s of sends) {
    const stored = history.filter((e) => e.type === 'message' && e.cmid === s.cmid && e.author.userId === s.device.userId);
    if (stored.length === 1) storedOnce++;
    else if (stored.length === 0) missing++;
    else storedTwice += stored.length - 1;
    const ok = s.answers.filter((a) => a.status === 200 || a.status === 201);
    firstAnswers += ok.filter((a) => a.duplicate === false).length;
    const wrong = ok.filter((a) => a.seq !== stored[0]?.seq || (a.status === 201) === a.duplicate);
    if (wrong.length > 0 || ok.filter((a) => a.duplicate === false).length > 1) console.log('[reliability] idempotency: a send answered wrongly', JSON.stringify({ stored: stored.map((e) => e.seq), answers: s.answers }));
    wrongAnswers += wrong.length;
    // At most one answer may say "new": the others are the same ack, marked duplicate.
    if (ok.filter((a) => a.duplicate === false).length > 1) wrongAnswers++;
  }
  const posts = sends.reduce((n, s) => n + s.answers.length, 0);
  const failedPosts = sends.reduce((n, s) => n + s.answers.filter((a) => a.status === 0 || a.status >= 500).length, 0);
  const overSocket = sends.reduce((n, s) => n + s.answers.filter((a) => a.over === 'websocket').length, 0);
  const figures = { seed, sends: sends.length, copies: sends.reduce((n, s) => n + s.copies, 0) + sends.length, posts, answersOverSocket: overSocket, failedPosts, firstAnswers, storedOnce, storedTwice, missing, wrongAnswers, kills, elapsedMs: Date.now() - started };
  report(
    'idempotency',
    figures,
    `seed ${seed}: ${sends.length} sends from ${new Set(sends.map((s) => s.device.wire)).size} wires' devices, ${figures.copies} copies (1-5 at once over HTTP and WebSocket send frames mixed, then once more after a crash), ${posts} answers or failures (${overSocket} over WebSocket; ${failedPosts} failed in flight): stored once ${storedOnce}, twice ${storedTwice}, missing ${missing}, answers naming another seq ${wrongAnswers}; run ${figures.elapsedMs} ms`,
  );
  expect({ storedTwice, missing, wrongAnswers }).toEqual({ storedTwice: 0, missing: 0, wrongAnswers: 0 });
  expect(storedOnce).toBe(sends.length);

  // The windows (and device streams) show those sends like any other, once each.
  await settle(server.url, conversations, SETTLE_TIMEOUT_MS);
  const verdict = await verdictOf(server.url, conversations, devices);
  console.log(`[reliability] idempotency, what the devices show: ${describeVerdict(verdict)}`);
  expect(verdict.problems).toEqual([]);
  expect(verdict.totals).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0, viewDiffers: 0 });
});
