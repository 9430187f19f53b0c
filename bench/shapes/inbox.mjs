/**
 * @module bench/shapes/inbox
 * `inbox-fanout-99`: a group of 99 members, each with its inbox socket open
 * (`/v1/inbox/ws`, one device per member) and no chat window except the two senders'.
 * A group of 99 is at FANOUT_ON_WRITE_MAX_MEMBERS (99, `members <= max`), the largest
 * that fans out on write: every member's UserDO queues each event and pushes it to the
 * inbox socket as a `deliver` frame with the full event (not an `activity` hint). Members
 * get their own messages too (for their other devices), so every message has 99 inboxes
 * to reach, the senders' included.
 *
 * The inboxes are read as the SDK reads them (./readers.mjs: an `ack` after every
 * `deliver`). A delivery is a message event past the inbox's cursor, at most once per
 * (inbox, message): what a client counts after deduplicating.
 *
 * A quick run uses a group of 20 (`inbox-fanout-20 …`): registering 100 accounts costs
 * ~80 ms of scrypt each, 10-30 s on this machine, more than a smoke run may take.
 *
 * Two phases over the same sockets:
 * - `inbox-fanout-99 max`: each sender keeps `window` sends in flight on its chat
 *   window (closed loop on acks, as the `group … max` shapes);
 * - `inbox-fanout-99 20/s`: 20 messages/s in total (open loop), ~2,000 inbox deliveries
 *   a second: latency when the fan-out is not saturated.
 * Each has a warm-up, a measured window, then a bounded drain: `lost` counts messages of
 * the window that did not reach all its inboxes by its end (`missing`: inbox × message).
 */
import { delay, openLoop, percentiles, pool, round, untilFirstAck } from '../util.mjs';
import { openInboxSocket } from './readers.mjs';

const MEMBERS = { full: 99, quick: 20 };
const INBOX_RATE = 20;
const SENDERS = 2;
const CONNECT_CONCURRENCY = 16;
/** The drain is longer than the chat shapes': a saturated fan-out leaves a backlog behind the window. */
const DRAIN_MS = 30_000;

export function inboxPhases(plan, quick) {
  const members = quick ? MEMBERS.quick : MEMBERS.full;
  return [
    { shape: `inbox-fanout-${members} max`, members, mode: 'max', window: plan.window, warmupMs: plan.warmupMs, durationMs: plan.durationMs },
    { shape: `inbox-fanout-${members} ${INBOX_RATE}/s`, members, mode: 'rate', rate: INBOX_RATE, warmupMs: plan.warmupMs, durationMs: plan.rateMs },
  ];
}

/** Runs `phases` (see inboxPhases) over one group of the first `members` users; one result per phase. */
export async function runInboxFanout(h, users, phases, maxMessages) {
  const members = users.slice(0, phases[0].members);
  const { conversation } = await h.http('POST', '/v1/conversations', {
    token: members[0].accessToken,
    body: { kind: 'group', title: 'inbox fan-out', memberIds: members.slice(1).map((u) => u.user.id) },
  });
  let phase = null;
  const onEvents = (inboxIdx) => (events, now) => {
    if (!phase) return;
    for (const e of events) {
      if (e.kind === 'event' && e.conversationId === conversation.id && e.event.type === 'message') phase.received(inboxIdx, e.event.cmid, now);
    }
  };
  const inboxes = await pool(members, CONNECT_CONCURRENCY, (user, i) => openInboxSocket(h, user, onEvents(i)));
  const chatPath = `/v1/conversations/${conversation.id}/ws`;
  const senders = await pool(members.slice(0, SENDERS), SENDERS, async (user) => ({ ws: await h.openSocket(h.serviceSocket(chatPath, user)), inflight: 0 }));
  const results = [];
  try {
    for (const spec of phases) {
      phase = measurePhase(h, spec, senders, maxMessages);
      results.push(await phase.run());
      phase = null;
    }
  } finally {
    for (const inbox of inboxes) inbox.close();
    await h.closeAll(senders.map((s) => s.ws));
  }
  const duplicates = inboxes.reduce((n, inbox) => n + inbox.state.duplicates, 0);
  const ended = inboxes.filter((inbox) => inbox.state.ended !== null).length;
  return results.map((r) => ({ ...r, duplicates, inboxesEnded: ended }));
}

function measurePhase(h, spec, senders, maxMessages) {
  const sent = new Map();
  const ackLat = [];
  const recvLat = [];
  const state = { recording: false, windowOpen: false, sending: true, acks: 0, deliveries: 0, expected: 0, outstanding: 0, seq: 0, repeated: 0 };

  function sendOne(sender) {
    const cmid = h.nextCmid();
    const recorded = state.recording;
    sent.set(cmid, { at: performance.now(), recorded, sender, reached: new Set() });
    if (recorded) {
      state.expected += 1;
      state.outstanding += 1;
    }
    sender.inflight += 1;
    state.seq += 1;
    sender.ws.send(JSON.stringify({ type: 'send', cmid, content: { type: 'text', text: `bench inbox ${state.seq}` } }));
  }
  function pump(sender) {
    while (state.sending && sender.inflight < spec.window && state.seq < maxMessages) sendOne(sender);
  }

  function received(inboxIdx, cmid, now) {
    const m = sent.get(cmid);
    if (!m) return;
    if (m.reached.has(inboxIdx)) {
      // A second cursor for the same message: the server applied it twice.
      state.repeated += 1;
      return;
    }
    m.reached.add(inboxIdx);
    if (state.windowOpen) state.deliveries += 1;
    if (!m.recorded) return;
    recvLat.push(now - m.at);
    if (m.reached.size === spec.members) state.outstanding -= 1;
  }

  async function run() {
    let firstAck;
    const acking = new Promise((resolve) => (firstAck = resolve));
    for (const sender of senders) {
      sender.inflight = 0;
      sender.ws.onmessage = (ev) => {
        const frame = JSON.parse(ev.data);
        if (frame.type === 'ack') {
          const m = sent.get(frame.cmid);
          if (!m) return;
          sender.inflight -= 1;
          firstAck();
          if (state.windowOpen) state.acks += 1;
          if (m.recorded) ackLat.push(performance.now() - m.at);
          if (spec.mode === 'max') pump(sender);
        } else if (frame.type === 'error') {
          h.log(`${spec.shape}: error frame ${ev.data.slice(0, 300)}`);
        }
      };
    }
    let stopLoop = () => {};
    if (spec.mode === 'max') {
      for (const sender of senders) pump(sender);
    } else {
      stopLoop = openLoop(spec.rate, (k) => sendOne(senders[k % senders.length]));
    }

    await untilFirstAck(acking, h.timeouts.connectMs);
    await delay(spec.warmupMs);
    state.recording = true;
    state.windowOpen = true;
    const start = h.snapshot('service');
    await delay(spec.durationMs);
    state.recording = false;
    state.windowOpen = false;
    const end = h.snapshot('service');
    state.sending = false;
    stopLoop();
    const drainStart = performance.now();
    // Everything sent must be in before the next phase starts, or the two would overlap.
    const settled = () => [...sent.values()].every((m) => m.reached.size === spec.members);
    while (!settled() && performance.now() - drainStart < DRAIN_MS) await delay(50);

    const wallS = (end.at - start.at) / 1000;
    const recorded = [...sent.values()].filter((m) => m.recorded);
    return {
      shape: spec.shape,
      target: 'service',
      inboxes: spec.members,
      senders: senders.length,
      msgsPerS: round(state.acks / wallS),
      deliveriesPerS: round(state.deliveries / wallS),
      ack: percentiles(ackLat),
      recv: percentiles(recvLat),
      messages: state.expected,
      lost: state.outstanding,
      missing: recorded.reduce((n, m) => n + spec.members - m.reached.size, 0),
      repeated: state.repeated,
      drainS: round((performance.now() - drainStart) / 1000, 2),
      ...h.usage('service', start, end),
    };
  }

  return { run, received };
}
