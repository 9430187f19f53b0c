/**
 * @module bench/shapes/channel
 * A broadcast channel: 1 poster, N reader sockets on one conversation, against the two
 * ways a conversation holds its live readers:
 *
 * - `relays`: a group above RELAY_MIN_MEMBERS (bench/run.mjs sets it for the bench, with
 *   RELAY_MAX_SOCKETS), so its sockets are spread over relay objects, each sent one call
 *   per batch (src/conversation/relays.ts);
 * - `one object`: a small group, every socket on the conversation object itself.
 *
 * The poster sends at a fixed rate (open loop) chosen so both paths carry the same
 * deliveries per second (`DELIVERIES_PER_S`); measured in the window after a warm-up:
 * deliveries/s (an `events` frame carrying a message at a reader), send→receive p50/p99
 * over every reader, and the runtime's CPU per message. Every socket's seqs are checked
 * too, over the whole run: each must be the one after the last (`repeated`: one seen
 * again; `out of order`: one skipped or early), so a run also shows every event reaching
 * every socket once, in order, at this size. Readers are spread over the
 * bench's users, as a channel's readers would be. Every socket lives on one
 * workerd here, so relays add hops without adding threads: what the local figures show
 * is the conversation's own cost per message, not the scale-out (docs/BENCHMARKS.md).
 */
import { delay, openLoop, percentiles, pool, round } from '../util.mjs';

/** Readers per run; `--quick` uses the small size. */
const READERS = { full: [1_000, 5_000], quick: [200] };
/** The poster's rate is set so every run carries about this many deliveries a second. */
const DELIVERIES_PER_S = 10_000;
/**
 * Members of the relayed group: RELAY_MIN_MEMBERS as bench/run.mjs sets it (102). The
 * other group has one fewer, so its sockets stay on the conversation object; both are
 * above FANOUT_ON_WRITE_MAX_MEMBERS (99), so both fan out on read and differ in nothing
 * but the relays. Readers are spread over every member but the poster (5,000 over 100
 * members is 50 windows each: service accounts may hold that many).
 */
export const CHANNEL_MEMBERS = 102;
const ONE_OBJECT_MEMBERS = CHANNEL_MEMBERS - 1;
const CONNECT_CONCURRENCY = 32;

export function channelShapes(plan, quick) {
  const sizes = quick ? READERS.quick : READERS.full;
  return sizes.flatMap((readers) =>
    ['relays', 'one object'].map((path) => ({
      shape: `channel ${readers} ${path}`,
      readers,
      relayed: path === 'relays',
      rate: Math.max(1, Math.round(DELIVERIES_PER_S / readers)),
      warmupMs: plan.warmupMs,
      durationMs: plan.rateMs,
    })),
  );
}

/** One run of `spec` over `users` (at least CHANNEL_MEMBERS of them). */
export async function runChannel(h, users, spec) {
  const members = users.slice(0, spec.relayed ? CHANNEL_MEMBERS : ONE_OBJECT_MEMBERS);
  const { conversation } = await h.http('POST', '/v1/conversations', {
    token: members[0].accessToken,
    body: { kind: 'group', title: spec.shape, memberIds: members.slice(1).map((u) => u.user.id) },
  });
  const path = `/v1/conversations/${conversation.id}/ws`;
  const poster = await h.openSocket(h.serviceSocket(path, members[0]));
  const readers = await pool(Array.from({ length: spec.readers }, (_, i) => i), CONNECT_CONCURRENCY, async (i) =>
    h.openSocket(h.serviceSocket(path, members[1 + (i % (members.length - 1))])),
  );

  // The group's creation leaves work behind (its members' UserDOs): measure without it.
  await h.untilQuiet('service');
  const sent = new Map();
  const recvLat = [];
  const state = { recording: false, windowOpen: false, deliveries: 0, expected: 0, outstanding: 0, repeated: 0, outOfOrder: 0 };
  for (const ws of readers) {
    // The group was created with its members (seq 0) and nothing was posted before the sockets opened.
    let lastSeq = 0;
    ws.onmessage = (ev) => {
      const now = performance.now();
      const frame = JSON.parse(ev.data);
      if (frame.type !== 'events') return;
      for (const event of frame.events) {
        if (event.seq <= lastSeq) state.repeated += 1;
        else if (event.seq !== lastSeq + 1) state.outOfOrder += 1;
        lastSeq = Math.max(lastSeq, event.seq);
        const m = sent.get(event.cmid);
        if (!m) continue;
        if (state.windowOpen) state.deliveries += 1;
        if (m.recorded) {
          recvLat.push(now - m.at);
          m.pending -= 1;
          if (m.pending === 0) state.outstanding -= 1;
        }
      }
    };
  }
  poster.onmessage = (ev) => {
    const frame = JSON.parse(ev.data);
    if (frame.type === 'error') h.log(`${spec.shape}: error frame ${String(ev.data).slice(0, 200)}`);
  };

  const stop = openLoop(spec.rate, () => {
    const cmid = h.nextCmid();
    sent.set(cmid, { at: performance.now(), recorded: state.recording, pending: spec.readers });
    if (state.recording) {
      state.expected += 1;
      state.outstanding += 1;
    }
    poster.send(JSON.stringify({ type: 'send', cmid, content: { type: 'text', text: `channel post ${cmid}` } }));
  });
  await delay(spec.warmupMs);
  state.recording = true;
  state.windowOpen = true;
  const start = h.snapshot('service');
  await delay(spec.durationMs);
  state.recording = false;
  state.windowOpen = false;
  const end = h.snapshot('service');
  stop();
  const drainUntil = performance.now() + h.timeouts.drainMs;
  while (state.outstanding > 0 && performance.now() < drainUntil) await delay(20);
  await h.closeAll([poster, ...readers]);

  const wallS = (end.at - start.at) / 1000;
  return {
    shape: spec.shape,
    target: 'service',
    sockets: spec.readers + 1,
    msgsPerS: round(state.expected / wallS),
    deliveriesPerS: round(state.deliveries / wallS),
    recv: percentiles(recvLat),
    messages: state.expected,
    lost: state.outstanding,
    repeated: state.repeated,
    outOfOrder: state.outOfOrder,
    ...h.usage('service', start, end),
    cpuPerMsgMs: round(((end.runtime - start.runtime) * 1000) / Math.max(1, state.expected), 3),
  };
}
