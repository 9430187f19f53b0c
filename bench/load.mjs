/**
 * @module bench/load
 * The load generator: a Node process apart from the runtime, driving the service and
 * both baselines with the same frames, the same shapes and the same measurements.
 *
 *   node bench/load.mjs <config.json>
 *
 * The config (written by bench/run.mjs) names the two servers and the workerd process
 * ids to sample; the results go to `config.out` as JSON. Each shape runs against every
 * target back to back, so ratios compare neighbouring moments of a noisy machine.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpuSample, isAlive, rssBytes } from './proc.mjs';
import { delay, openLoop, percentiles, pool, round } from './util.mjs';
import { STREAM_USERS, runStreamLatency, streamShapes } from './shapes/stream.mjs';
import { inboxPhases, runInboxFanout } from './shapes/inbox.mjs';
import { CHANNEL_MEMBERS, channelShapes, runChannel } from './shapes/channel.mjs';
import { e2eeSendShapes, runE2eeSend } from './shapes/e2ee.mjs';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const SERVICE = config.service.url;
const BASELINE = config.baseline.url;

/** The target is 10,000; bench/run.mjs sets what its harness can hold (see IDLE_SOCKETS there). */
const IDLE_SOCKETS = config.idleSockets;

/** Every bound in one place: the full run and the smoke run (`--quick`). */
const PLAN = config.quick
  ? { rounds: 1, users: 14, pairs: 5, group: [10, 100], warmupMs: 200, durationMs: 1_000, window: 16, rate: 100, rateMs: 1_000, steadyRate: 200, groupRate: 50, idle: 500, idleWaitMs: 0, historyPages: 10, maxMessages: 50_000 }
  : { rounds: 2, users: 104, pairs: 50, group: [10, 100], warmupMs: 1_000, durationMs: 3_000, window: 16, rate: 100, rateMs: 4_000, steadyRate: 200, groupRate: 50, idle: IDLE_SOCKETS, idleWaitMs: 15_000, historyPages: 300, maxMessages: 200_000 };

if (config.rounds) PLAN.rounds = config.rounds;

const TIMEOUTS = { connectMs: 15_000, drainMs: 15_000, wakeBroadcastMs: 60_000, httpMs: 30_000 };
const CONNECT_CONCURRENCY = 32;
const IDLE_MAX_ERRORS = 20;
const PASSWORD = 'bench-password-not-secret';
const runId = Date.now().toString(36);
let cmidCounter = 0;
const nextCmid = () => `c${runId}-${++cmidCounter}`;

/** Targets, in the order each shape runs them. `server` says which runtime serves it. */
const TARGETS = [
  { name: 'service', server: 'service' },
  { name: 'sqlite', server: 'baseline' },
  { name: 'memory', server: 'baseline' },
];

// ── HTTP and sockets ─────────────────────────────────────────────────────────────

async function http(method, path, { token, body, address } = {}) {
  const headers = {};
  // Registrations and logins are limited per client address (src/ratelimit/rules.ts);
  // locally the address is whatever this header says, so the bench spreads its setup
  // over made-up addresses rather than turning the limits off.
  if (address) headers['cf-connecting-ip'] = address;
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${SERVICE}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(TIMEOUTS.httpMs),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : null;
}

/**
 * Opens a socket at `target` (`{ url, protocols }`: the service's carry the access token
 * as a subprotocol, as the SDK does) and resolves once the first frame (`ready`) arrives.
 */
function openSocket({ url, protocols }) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    const timer = setTimeout(() => fail(new Error(`connect timed out: ${url.split('?')[0]}`)), TIMEOUTS.connectMs);
    let settled = false;
    // close() can fire onerror/onclose synchronously, which would call fail again.
    function fail(err) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        ws.close();
      } catch {
        // Not open yet.
      }
      reject(err);
    }
    ws.onerror = () => fail(new Error(`socket error: ${url.split('?')[0]}`));
    ws.onclose = (ev) => fail(new Error(`closed before ready (${ev.code}): ${url.split('?')[0]}`));
    ws.onmessage = (ev) => {
      const frame = JSON.parse(ev.data);
      if (frame.type !== 'ready') return fail(new Error(`expected ready, got ${ev.data.slice(0, 200)}`));
      clearTimeout(timer);
      settled = true;
      ws.onerror = null;
      ws.onclose = null;
      ws.onmessage = null;
      resolve(ws);
    };
  });
}

async function closeAll(sockets) {
  await pool(sockets, 256, (ws) => new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    const timer = setTimeout(resolve, 2_000);
    ws.onclose = () => {
      clearTimeout(timer);
      resolve();
    };
    ws.close(1000);
  }));
}

// ── Setup: users and rooms ───────────────────────────────────────────────────────

/** A made-up client address per `i`, each used for fewer calls than the per-address limits allow. */
const benchAddress = (i) => `10.77.${Math.floor(i / 250)}.${(i % 250) + 1}`;

/**
 * The idle shape signs user 0 in on one device per this many sockets (a device's windows
 * on one conversation are capped per tier, src/ratelimit/rules.ts WINDOWS_PER_DEVICE; the
 * bench's accounts are service accounts).
 */
const SOCKETS_PER_DEVICE = 25;

/** The subprotocols that authenticate a socket (src/protocol/frames.ts; this program speaks the wire protocol as any client would). */
const WS_SUBPROTOCOL = 'edge-chat.v1';
const WS_BEARER_PREFIX = 'bearer.';

/** `count` sessions (devices) of user `i`, each login from its own made-up address. */
async function loginDevices(i, count) {
  return pool(Array.from({ length: count }, (_, k) => k), 2, (k) =>
    http('POST', '/v1/auth/login', { body: { handle: `b${runId}_${i}`, password: PASSWORD, deviceName: `bench idle ${k}` }, address: benchAddress(1_000 + k) }),
  );
}

/** Signs user `i` in on one more device, from made-up address `addressIdx` (apart from those the other logins use). */
function loginDevice(i, deviceName, addressIdx) {
  return http('POST', '/v1/auth/login', { body: { handle: `b${runId}_${i}`, password: PASSWORD, deviceName }, address: benchAddress(addressIdx) });
}

/** Registers the users once: scrypt makes each registration cost ~80 ms of server CPU. */
async function registerUsers(count) {
  return pool(Array.from({ length: count }, (_, i) => i), 2, (i) =>
    http('POST', '/v1/auth/register', {
      body: { handle: `b${runId}_${i}`, displayName: `bench ${i}`, password: PASSWORD, deviceName: 'bench' },
      address: benchAddress(i),
    }),
  );
}

/**
 * A room is one conversation on one target, with the user index behind each socket.
 * On the service it is a real conversation (direct for pairs, else a group); on a
 * baseline it is just a fresh object name.
 */
async function createRoom(target, users, memberIdx, label, create) {
  if (target.server === 'baseline') {
    // The baseline routes by the path segment after the target (`/sqlite/<room>/ws`): a
    // shape's name may hold a `/` (`50x2 200/s`), which would put every room in one object.
    return { target, id: `${target.name}-${label}-${runId}`.replace(/[^\w-]/g, '_'), memberIdx };
  }
  if (create) return { target, id: await create(users, memberIdx, label), memberIdx };
  const owner = users[memberIdx[0]];
  const others = [...new Set(memberIdx.slice(1))].filter((i) => i !== memberIdx[0]).map((i) => users[i].user.id);
  const body = memberIdx.length === 2 ? { kind: 'direct', peerId: others[0] } : { kind: 'group', title: label, memberIds: others };
  const { conversation } = await http('POST', '/v1/conversations', { token: owner.accessToken, body });
  return { target, id: conversation.id, memberIdx };
}

function socketTarget(room, users, userIdx, session = users[userIdx]) {
  if (room.target.server === 'baseline') {
    return { url: `${BASELINE.replace('http', 'ws')}/${room.target.name}/${room.id}/ws?user=u${userIdx}&device=d${userIdx}` };
  }
  return serviceSocket(`/v1/conversations/${room.id}/ws`, session);
}

/** A socket of the service at `path`, authenticated as `session`'s device (the bearer subprotocol). */
function serviceSocket(path, session) {
  return { url: `${SERVICE.replace('http', 'ws')}${path}`, protocols: [WS_SUBPROTOCOL, `${WS_BEARER_PREFIX}${session.accessToken}`] };
}

async function openRoom(room, users) {
  return pool(room.memberIdx, CONNECT_CONCURRENCY, async (userIdx) => openSocket(socketTarget(room, users, userIdx)));
}

// ── Measurement ──────────────────────────────────────────────────────────────────

/** CPU and memory of the runtime (its workerd) and of this load generator. */
function snapshot(server) {
  return { at: performance.now(), runtime: cpuSample(config[server].pids.runtime), proxy: cpuSample(config[server].pids.proxy), load: process.cpuUsage() };
}

function usage(server, start, end) {
  const wallS = (end.at - start.at) / 1000;
  const loadUs = end.load.user + end.load.system - start.load.user - start.load.system;
  return {
    runtimeCpu: round((end.runtime - start.runtime) / wallS, 2),
    proxyCpu: round((end.proxy - start.proxy) / wallS, 2),
    loadCpu: round(loadUs / 1e6 / wallS, 2),
    runtimeRssMb: round(rssBytes(config[server].pids.runtime) / 2 ** 20),
  };
}

// ── Chat shapes ──────────────────────────────────────────────────────────────────

/**
 * Drives rooms of sockets and measures. In each room the first `senders` sockets send:
 * `mode: 'max'` keeps `window` sends in flight per sender (a closed loop: as fast as
 * acks come back); `mode: 'rate'` sends `rate` messages/s in total, open loop.
 *
 * Counted inside the measured window (after the warm-up): acks (messages accepted) and
 * deliveries (an `events` frame carrying the message at a socket other than its
 * sender's). Latencies: send→ack at the sender, send→receive at every other socket,
 * for messages sent inside the window. After the window, sending stops and the run
 * waits (bounded) until every measured message is acked and delivered, and reports
 * what never arrived as `lost`.
 *
 * Shape modules may pass `spec.create(users, memberIdx, label)` (makes the service's
 * conversation, returns its id), `spec.content(userIdx, seq)` (what a sender sends; a
 * short text by default) and `spec.settle` (start once the runtime is quiet after the
 * set-up): bench/shapes/e2ee.mjs sends envelopes this way.
 */
async function runChat(target, users, spec) {
  const rooms = await pool(spec.rooms, 8, (memberIdx, r) => createRoom(target, users, memberIdx, `${spec.shape}-${r}`, spec.create));
  const socketsByRoom = await pool(rooms, 4, (room) => openRoom(room, users));
  // A new conversation leaves work behind (its members' objects hear of it): `settle` waits it out.
  if (spec.settle) await untilQuiet(target.server);
  const sent = new Map();
  const ackLat = [];
  const recvLat = [];
  const state = { recording: false, sending: true, windowOpen: false, acks: 0, deliveries: 0, expected: 0, seq: 0, outstanding: 0 };

  const senders = [];
  socketsByRoom.forEach((sockets, r) => {
    sockets.forEach((ws, s) => {
      const sender = s < spec.senders ? { ws, key: `${r}:${s}`, userIdx: rooms[r].memberIdx[s], inflight: 0 } : null;
      if (sender) senders.push(sender);
      ws.onmessage = (ev) => onFrame(ev.data, `${r}:${s}`, sender);
    });
  });

  function onFrame(data, socketKey, sender) {
    const now = performance.now();
    const frame = JSON.parse(data);
    if (frame.type === 'ack') {
      const m = sent.get(frame.cmid);
      if (!m) return;
      if (frame.duplicate) throw new Error(`${target.name} ${spec.shape}: ${frame.cmid} acked as a duplicate`);
      sender.inflight -= 1;
      if (state.windowOpen) state.acks += 1;
      if (m.recorded) {
        ackLat.push(now - m.at);
        m.pending -= 1;
        if (m.pending === 0) state.outstanding -= 1;
      }
      if (spec.mode === 'max') pump(sender);
    } else if (frame.type === 'events') {
      for (const event of frame.events) {
        const m = sent.get(event.cmid);
        if (!m || m.sender === socketKey) continue;
        if (state.windowOpen) state.deliveries += 1;
        if (m.recorded) {
          recvLat.push(now - m.at);
          m.pending -= 1;
          if (m.pending === 0) state.outstanding -= 1;
        }
      }
    } else if (frame.type === 'error') {
      throw new Error(`${target.name} ${spec.shape}: error frame ${data.slice(0, 300)}`);
    }
  }

  function sendOne(sender, roomSize) {
    // Unique across the whole run: a direct conversation is reused by later rounds, and a
    // repeated cmid would (rightly) be acked as a duplicate and not broadcast.
    const cmid = nextCmid();
    const recorded = state.recording;
    sent.set(cmid, { at: performance.now(), sender: sender.key, recorded, pending: roomSize });
    if (recorded) {
      state.expected += 1;
      state.outstanding += 1;
    }
    sender.inflight += 1;
    state.seq += 1;
    const content = spec.content ? spec.content(sender.userIdx, state.seq) : { type: 'text', text: `bench message ${state.seq}` };
    sender.ws.send(JSON.stringify({ type: 'send', cmid, content }));
  }

  const roomSizeOf = (sender) => socketsByRoom[Number(sender.key.split(':')[0])].length;
  function pump(sender) {
    while (state.sending && sender.inflight < spec.window && state.seq < PLAN.maxMessages) sendOne(sender, roomSizeOf(sender));
  }

  let stopLoop = () => {};
  if (spec.mode === 'max') {
    for (const sender of senders) pump(sender);
  } else {
    stopLoop = openLoop(spec.rate, (k) => sendOne(senders[k % senders.length], roomSizeOf(senders[0])));
  }

  await delay(spec.warmupMs);
  state.recording = true;
  state.windowOpen = true;
  const start = snapshot(target.server);
  await delay(spec.durationMs);
  state.recording = false;
  state.windowOpen = false;
  const end = snapshot(target.server);
  state.sending = false;
  stopLoop();
  const drainUntil = performance.now() + TIMEOUTS.drainMs;
  while (state.outstanding > 0 && performance.now() < drainUntil) await delay(20);
  const quiet = await untilQuiet(target.server);

  await closeAll(socketsByRoom.flat());
  const wallS = (end.at - start.at) / 1000;
  return {
    rooms,
    result: {
      shape: spec.shape,
      target: target.name,
      sockets: socketsByRoom.reduce((n, s) => n + s.length, 0),
      msgsPerS: round(state.acks / wallS),
      deliveriesPerS: round(state.deliveries / wallS),
      ack: percentiles(ackLat),
      recv: percentiles(recvLat),
      messages: state.expected,
      lost: state.outstanding,
      ...usage(target.server, start, end),
      // CPU per message of the runtime: inside the window, and counted on until the
      // runtime is quiet again (work a message leaves behind: fan-out, indexing, alarms).
      cpuPerMsgMs: round(((end.runtime - start.runtime) * 1000) / Math.max(1, state.acks), 3),
      cpuPerMsgUntilQuietMs: round(((quiet.runtime - start.runtime) * 1000) / Math.max(1, state.expected), 3),
      quietAfterS: round((quiet.at - end.at) / 1000, 2),
    },
  };
}

/**
 * Waits until the runtime has been quiet (under QUIET.cpu of a core over QUIET.spanMs)
 * after a shape's load, bounded by QUIET.maxMs; returns the snapshot taken then. The span
 * is longer than the service's watching interval (FANOUT_WATCHING_INTERVAL_MS, 1 s): the
 * last of a burst reaches watching members' inboxes that long after it, and a shorter
 * span called the runtime quiet in the gap before.
 */
const QUIET = { cpu: 0.05, spanMs: 1_200, maxMs: 60_000 };
async function untilQuiet(server) {
  const deadline = performance.now() + QUIET.maxMs;
  let last = snapshot(server);
  for (;;) {
    await delay(QUIET.spanMs);
    const now = snapshot(server);
    const busy = (now.runtime - last.runtime) / ((now.at - last.at) / 1000);
    if (busy < QUIET.cpu || performance.now() > deadline) return last;
    last = now;
  }
}

function chatShapes() {
  const range = (from, n) => Array.from({ length: n }, (_, i) => from + i);
  const member = (i) => i % PLAN.users;
  const common = { warmupMs: PLAN.warmupMs, window: PLAN.window };
  return [
    { ...common, shape: '1:1 max', rooms: [[0, 1]], senders: 2, mode: 'max', durationMs: PLAN.durationMs },
    { ...common, shape: `1:1 ${PLAN.rate}/s`, rooms: [[2, 3]], senders: 1, mode: 'rate', rate: PLAN.rate, durationMs: PLAN.rateMs },
    ...PLAN.group.map((n) => ({ ...common, shape: `group ${n} max`, rooms: [range(0, n).map(member)], senders: 2, mode: 'max', durationMs: PLAN.durationMs })),
    {
      ...common,
      shape: `${PLAN.pairs}x2 parallel`,
      rooms: range(0, PLAN.pairs).map((p) => [4 + 2 * p, 5 + 2 * p].map(member)),
      senders: 2,
      window: 4,
      mode: 'max',
      durationMs: PLAN.durationMs,
    },
    // Where real traffic is: many small conversations at a steady rate (one sender each).
    {
      ...common,
      shape: `${PLAN.pairs}x2 ${PLAN.steadyRate}/s`,
      rooms: range(0, PLAN.pairs).map((p) => [4 + 2 * p, 5 + 2 * p].map(member)),
      senders: 1,
      mode: 'rate',
      rate: PLAN.steadyRate,
      durationMs: PLAN.rateMs,
    },
    {
      ...common,
      shape: `${PLAN.pairs}x10 max`,
      rooms: range(0, PLAN.pairs).map((p) => range(10 * p, 10).map(member)),
      senders: 2,
      window: 2,
      mode: 'max',
      durationMs: PLAN.durationMs,
    },
    // A steady group chat: its tail, not only its median. A group of 100 fans out on read,
    // one of 99 on write (FANOUT_ON_WRITE_MAX_MEMBERS): the two sides of the threshold.
    { ...common, shape: `group 100 ${PLAN.groupRate}/s`, rooms: [range(0, 100).map(member)], senders: 2, mode: 'rate', rate: PLAN.groupRate, durationMs: PLAN.rateMs },
    { ...common, shape: `group 99 ${PLAN.groupRate}/s`, rooms: [range(0, 99).map(member)], senders: 2, mode: 'rate', rate: PLAN.groupRate, durationMs: PLAN.rateMs },
  ];
}

// ── History ──────────────────────────────────────────────────────────────────────

/** History walks per target, at least (each is short: see main). */
const HISTORY_MIN_ROUNDS = 4;

/**
 * Pages each target serves before the walks, as every chat shape warms up before it
 * measures. The walks measure pages, not waking up: with the walks started 90 s after
 * the load, the service's first page woke its conversation and the reader's user object
 * and ran code the runtime had dropped (70-100 ms, the baseline's ~4 ms), and its whole
 * first walk ran at 0.61-0.72x against 0.74-0.86x for the walks after it. The first page
 * of this warm-up is reported on its own (`historyWarmup`).
 */
const HISTORY_WARMUP_PAGES = 100;

/** One page of a room's history after `after`, as the target serves it. */
async function historyPage(target, room, users, after) {
  return target.server === 'service'
    ? http('GET', `/v1/conversations/${room.id}/events?after=${after}&limit=100`, { token: users[0].accessToken })
    : (await fetch(`${BASELINE}/sqlite/${room.id}/history?after=${after}&limit=100`, { signal: AbortSignal.timeout(TIMEOUTS.httpMs) })).json();
}

/**
 * The history every target's walk covers: the first `span` events, the length of the
 * shortest log. The rooms are the `1:1 max` conversations, and a faster target sent more
 * there: walked to their ends, the longer log would read more distinct pages (fewer
 * from SQLite's cache) for the same number of events.
 */
async function historySpan(targets, rooms, users) {
  const lengths = await Promise.all(targets.map(async (target) => (await historyPage(target, rooms.get(target.name), users, 0)).lastSeq));
  return Math.min(...lengths);
}

/** Walks a room's first `span` events forwards in pages of 100, one request at a time, from the start again at the end, for `pages` pages. */
async function runHistory(target, room, users, span, pages = PLAN.historyPages) {
  const latencies = [];
  let after = 0;
  let events = 0;
  const start = snapshot(target.server);
  for (let page = 0; page < pages; page++) {
    const t0 = performance.now();
    const body = await historyPage(target, room, users, after);
    latencies.push(performance.now() - t0);
    events += body.events.length;
    if (body.events.length === 0) break;
    const last = body.events.at(-1).seq;
    after = body.hasMore && last < span ? last : 0;
  }
  const end = snapshot(target.server);
  return {
    shape: 'history pages of 100',
    target: target.name,
    pages: latencies.length,
    firstPageMs: round(latencies[0], 2),
    eventsPerS: round(events / ((end.at - start.at) / 1000)),
    page: percentiles(latencies),
    ...usage(target.server, start, end),
  };
}

// ── Idle capacity ────────────────────────────────────────────────────────────────

/**
 * Opens `PLAN.idle` sockets on one object, lets them go idle long enough for the object
 * to hibernate, then wakes it with one message and counts how many idle sockets receive
 * the broadcast: a socket that got it was held. Memory per socket is the runtime's RSS
 * growth divided by the sockets (RSS rarely shrinks, so this is an upper bound).
 */
async function runIdle(target, users) {
  const room = await createRoom(target, users, [0, 1], 'idle');
  const probe = await openSocket(socketTarget(room, users, 1));
  const rssBefore = rssBytes(config[target.server].pids.runtime);
  const proxyRssBefore = rssBytes(config[target.server].pids.proxy);
  // Stop opening once sockets keep failing (a file-descriptor limit, say): the figure is
  // how many were held, and the first error says what stopped it.
  let errors = 0;
  const devices = target.server === 'service' ? await loginDevices(0, Math.ceil(PLAN.idle / SOCKETS_PER_DEVICE)) : [];
  const t0 = performance.now();
  const idle = await pool(Array.from({ length: PLAN.idle }, (_, k) => k), CONNECT_CONCURRENCY, async (k) => {
    if (errors >= IDLE_MAX_ERRORS) return new Error('not attempted: too many connect errors before');
    try {
      return await openSocket(socketTarget(room, users, 0, devices[Math.floor(k / SOCKETS_PER_DEVICE)]));
    } catch (err) {
      errors += 1;
      return err;
    }
  });
  const connectS = (performance.now() - t0) / 1000;
  const sockets = idle.filter((ws) => !(ws instanceof Error));
  const failures = idle.filter((ws) => ws instanceof Error);
  const rssConnected = rssBytes(config[target.server].pids.runtime);
  const startedAt = target.server === 'baseline' ? await roomStartedAt(room).catch(() => null) : null;
  await delay(PLAN.idleWaitMs);
  const runtimeAlive = isAlive(config[target.server].pids.runtime);
  const rssIdle = rssBytes(config[target.server].pids.runtime);
  const proxyRssIdle = rssBytes(config[target.server].pids.proxy);

  let received = 0;
  const allReceived = new Promise((resolve) => {
    const timer = setTimeout(resolve, TIMEOUTS.wakeBroadcastMs);
    for (const ws of sockets) {
      ws.onmessage = (ev) => {
        if (JSON.parse(ev.data).type !== 'events') return;
        received += 1;
        if (received === sockets.length) {
          clearTimeout(timer);
          resolve();
        }
      };
    }
  });
  const tWake = performance.now();
  probe.send(JSON.stringify({ type: 'send', cmid: `wake-${runId}-${target.name}`, content: { type: 'text', text: 'wake up' } }));
  await allReceived;
  const wakeMs = performance.now() - tWake;
  const hibernated = startedAt === null ? null : (await roomStartedAt(room).catch(() => startedAt)) !== startedAt;
  await closeAll([probe, ...sockets]);
  return {
    shape: 'idle sockets on one object',
    target: target.name,
    attempted: PLAN.idle,
    connected: sockets.length,
    held: received,
    connectErrors: failures.length,
    firstError: failures[0] ? String(failures[0].cause ?? failures[0].message) : null,
    connectPerS: round(sockets.length / connectS),
    idleWaitS: PLAN.idleWaitMs / 1000,
    hibernated,
    runtimeAlive,
    wakeBroadcastMs: round(wakeMs),
    rssBeforeMb: round(rssBefore / 2 ** 20),
    rssConnectedMb: round(rssConnected / 2 ** 20),
    rssIdleMb: round(rssIdle / 2 ** 20),
    kbPerSocketConnected: sockets.length ? round((rssConnected - rssBefore) / sockets.length / 1024, 2) : null,
    kbPerSocketIdle: sockets.length ? round((rssIdle - rssBefore) / sockets.length / 1024, 2) : null,
    proxyKbPerSocketIdle: sockets.length ? round((proxyRssIdle - proxyRssBefore) / sockets.length / 1024, 2) : null,
  };
}

/** The baseline room reports when its instance started: a change across the idle wait means it hibernated and woke. */
async function roomStartedAt(room) {
  const res = await fetch(`${BASELINE}/${room.target.name}/${room.id}/stats`, { signal: AbortSignal.timeout(TIMEOUTS.httpMs) });
  return (await res.json()).startedAt;
}

/** One row per shape and target: the mean of each figure over the rounds, lost summed. */
function combineRounds(rows) {
  const groups = new Map();
  for (const row of rows) {
    const key = `${row.shape}\u0000${row.target}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const mean = (values) => (values.some((v) => v === null) ? null : round(values.reduce((a, b) => a + b, 0) / values.length, 2));
  const combine = (list) => {
    const out = {};
    for (const [key, value] of Object.entries(list[0])) {
      if (key === 'round') continue;
      if (key === 'lost' || key === 'messages') out[key] = list.reduce((n, r) => n + r[key], 0);
      else if (typeof value === 'number') out[key] = mean(list.map((r) => r[key]));
      else if (value && typeof value === 'object') out[key] = combine(list.map((r) => r[key]));
      else out[key] = value;
    }
    return out;
  };
  return [...groups.values()].map((list) => ({ ...combine(list), rounds: list.length }));
}

// ── Main ─────────────────────────────────────────────────────────────────────────

/** Whether `--only` (bench/run.mjs) selects the shape named `name`. */
const selected = (name) => !config.only || config.only.some((prefix) => name.startsWith(prefix));

function log(line) {
  process.stderr.write(`[bench] ${line}\n`);
}

/** What the shape modules (bench/shapes/) use of this process: the service, setup calls, sockets and samples. */
const harness = { serviceUrl: SERVICE, http, serviceSocket, openSocket, closeAll, snapshot, usage, untilQuiet, log, nextCmid, loginDevice, runChat, timeouts: TIMEOUTS };

async function main() {
  const t0 = performance.now();
  const streamSpecs = streamShapes(PLAN).filter((s) => selected(s.shape));
  const inboxSpecs = inboxPhases(PLAN, config.quick).filter((s) => selected(s.shape));
  const channelSpecs = channelShapes(PLAN, config.quick).filter((s) => selected(s.shape));
  // Each inbox needs a member of its own; the relayed channel, more members than RELAY_MIN_MEMBERS.
  const userCount = Math.max(PLAN.users, streamSpecs.length > 0 ? STREAM_USERS : 0, inboxSpecs[0]?.members ?? 0, channelSpecs.length > 0 ? CHANNEL_MEMBERS : 0);
  log(`registering ${userCount} users`);
  const users = await registerUsers(userCount);
  log(`registered in ${round((performance.now() - t0) / 1000)} s`);

  const rounds = [];
  const historyRooms = new Map();
  for (const spec of chatShapes().filter((s) => selected(s.shape))) {
    // Rounds alternate the order (A B C, C B A …) so no target always runs first or last.
    for (let round = 0; round < PLAN.rounds; round++) {
      for (const target of round % 2 === 0 ? TARGETS : [...TARGETS].reverse()) {
        const { rooms, result } = await runChat(target, users, spec);
        if (spec.shape === '1:1 max' && round === 0) historyRooms.set(target.name, rooms[0]);
        rounds.push({ ...result, round });
        log(`${spec.shape.padEnd(16)} ${target.name.padEnd(8)} ${result.msgsPerS} msg/s, ${result.deliveriesPerS} deliveries/s, recv p50 ${result.recv.p50} ms, lost ${result.lost}`);
      }
    }
  }
  const chat = combineRounds(rounds);

  // A walk takes about a second, so one is mostly noise: several, interleaved as above.
  const historyRounds = [];
  const historyTargets = TARGETS.filter((t) => selected('history') && historyRooms.has(t.name) && t.name !== 'memory');
  const historyEvents = historyTargets.length > 0 ? await historySpan(historyTargets, historyRooms, users) : 0;
  if (historyTargets.length > 0) log(`history          walks the first ${historyEvents} events of each log`);
  const historyWarmup = [];
  for (const target of historyTargets) {
    const { firstPageMs } = await runHistory(target, historyRooms.get(target.name), users, historyEvents, HISTORY_WARMUP_PAGES);
    historyWarmup.push({ target: target.name, firstPageMs });
    log(`history          ${target.name.padEnd(8)} first page ${firstPageMs} ms, then ${HISTORY_WARMUP_PAGES - 1} more to warm up`);
  }
  for (let round = 0; round < Math.max(PLAN.rounds, HISTORY_MIN_ROUNDS); round++) {
    for (const target of round % 2 === 0 ? historyTargets : [...historyTargets].reverse()) {
      const result = await runHistory(target, historyRooms.get(target.name), users, historyEvents);
      historyRounds.push({ ...result, round });
      log(`history          ${target.name.padEnd(8)} ${result.eventsPerS} events/s, page p50 ${result.page.p50} ms, p99 ${result.page.p99} ms`);
    }
  }
  const history = combineRounds(historyRounds);

  const streamRounds = [];
  for (const spec of streamSpecs) {
    for (let round = 0; round < PLAN.rounds; round++) {
      const result = await runStreamLatency(harness, users, spec);
      streamRounds.push(result);
      const r = result.readers;
      log(`${spec.shape.padEnd(17)} recv p50 ${spec.wire} ${r[spec.wire].recv.p50} ms, inbox socket ${r.inbox.recv.p50} ms, chat window ${r.websocket.recv.p50} ms, lost ${result.lost}`);
    }
  }
  const streams = combineRounds(streamRounds);

  const inboxRounds = [];
  for (let round = 0; round < PLAN.rounds && inboxSpecs.length > 0; round++) {
    for (const result of await runInboxFanout(harness, users, inboxSpecs, PLAN.maxMessages)) {
      inboxRounds.push(result);
      log(`${result.shape.padEnd(20)} ${result.msgsPerS} msg/s, ${result.deliveriesPerS} inbox deliveries/s, recv p50 ${result.recv.p50} ms, lost ${result.lost}`);
    }
  }
  const inbox = combineRounds(inboxRounds);

  const channelRounds = [];
  for (let round = 0; round < PLAN.rounds; round++) {
    // Rounds alternate the order, so neither path always runs first.
    for (const spec of round % 2 === 0 ? channelSpecs : [...channelSpecs].reverse()) {
      const result = await runChannel(harness, users, spec);
      channelRounds.push(result);
      log(`${result.shape.padEnd(20)} ${result.msgsPerS} msg/s, ${result.deliveriesPerS} deliveries/s, recv p50 ${result.recv.p50} ms p99 ${result.recv.p99} ms, lost ${result.lost}`);
    }
  }
  const channel = combineRounds(channelRounds);

  const e2eeSpecs = e2eeSendShapes(PLAN).filter((s) => selected(s.shape));
  const e2eeRounds = e2eeSpecs.length > 0 ? await runE2eeSend(harness, users, e2eeSpecs, PLAN.rounds) : [];
  const e2ee = combineRounds(e2eeRounds);

  const idle = [];
  for (const target of TARGETS.filter((t) => t.name !== 'memory' && selected('idle'))) {
    const result = await runIdle(target, users);
    idle.push(result);
    log(`idle             ${target.name.padEnd(8)} held ${result.held}/${result.attempted}, ${result.kbPerSocketIdle} KiB/socket, hibernated ${result.hibernated}`);
  }

  writeFileSync(config.out, JSON.stringify({ plan: PLAN, chat, rounds, history, historyRounds, historyWarmup, streams, streamRounds, inbox, inboxRounds, channel, channelRounds, e2ee, e2eeRounds, idle, loadSeconds: round((performance.now() - t0) / 1000) }, null, 2));
}

main().catch((err) => {
  process.stderr.write(`[bench] load generator failed: ${err.stack ?? err}\n`);
  process.exit(1);
});
