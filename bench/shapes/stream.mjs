/**
 * @module bench/shapes/stream
 * `sse-latency` and `long-poll-latency`: delivery latency over the HTTP wires a client
 * without WebSockets uses, against WebSocket delivery of the same messages at the same
 * moment.
 *
 * One group conversation of four users: a sender with its chat window open, sending
 * `rate` messages/s (open loop, as `1:1 100/s`) over that window's socket, and readers
 * of every message:
 * - `websocket`: a member with the conversation's chat window open (the WebSocket
 *   reference of the target, what `1:1 100/s` measures);
 * - `inbox`: a member with only its inbox socket open (the device event stream over a
 *   WebSocket, through the member's UserDO);
 * - `sse` or `long-poll`: a member with the conversation open over that wire, reading
 *   what the SDK reads then: the conversation's feed (`/v1/conversations/:id/stream` or
 *   `/poll`, served by the conversation itself) and, on the same wire, its device event
 *   stream (`/v1/inbox/events` or `/poll`, which the SDK also follows, for the list);
 *   the feed is `sse` / `long-poll`, the device event stream `sse-inbox` /
 *   `long-poll-inbox`. The SDK shows whichever copy arrives first.
 * The sender uses its WebSocket, not `POST /messages` (which the SDK uses when its own
 * socket is blocked): the send is the same for every reader, so the figures compare
 * delivery only. Latency: send → the event parsed at the reader.
 */
import { delay, openLoop, percentiles, round, untilFirstAck } from '../util.mjs';
import { openFeedSse, openInboxSocket, openSseReader, startFeedPoll, startLongPoll } from './readers.mjs';

/** The shapes, with the users in each: sender, chat-window reader, inbox reader, wire reader. */
export function streamShapes(plan) {
  const common = { rate: plan.rate, warmupMs: plan.warmupMs, durationMs: plan.rateMs };
  return [
    { ...common, shape: 'sse-latency', wire: 'sse', members: [0, 1, 2, 3] },
    { ...common, shape: 'long-poll-latency', wire: 'long-poll', members: [4, 5, 6, 7] },
  ];
}

export const STREAM_USERS = 8;

export async function runStreamLatency(h, users, spec) {
  const [sender, ...readerUsers] = spec.members.map((i) => users[i]);
  const { conversation } = await h.http('POST', '/v1/conversations', {
    token: sender.accessToken,
    body: { kind: 'group', title: spec.shape, memberIds: readerUsers.map((u) => u.user.id) },
  });
  const chatPath = `/v1/conversations/${conversation.id}/ws`;
  const deviceStream = `${spec.wire}-inbox`;
  const kinds = ['websocket', 'inbox', spec.wire, deviceStream];
  const stats = Object.fromEntries(kinds.map((k) => [k, { latencies: [], deliveries: 0 }]));
  const sent = new Map();
  const ackLat = [];
  const state = { recording: false, windowOpen: false, sending: true, acks: 0, expected: 0, outstanding: 0, seq: 0 };
  const repoll = { inGap: [], held: [] };

  function received(kind, cmid, now, poll) {
    const m = sent.get(cmid);
    if (!m || !m.pending.has(kind)) return;
    m.pending.delete(kind);
    if (state.windowOpen) stats[kind].deliveries += 1;
    if (!m.recorded) return;
    const latency = now - m.at;
    stats[kind].latencies.push(latency);
    // A message sent before the poll that carried it was issued could not be answered
    // by a waiting poll: it paid for the re-poll.
    if (poll) (m.at < poll.sentAt ? repoll.inGap : repoll.held).push(latency);
    if (m.pending.size === 0) state.outstanding -= 1;
  }
  const onDeviceEvents = (kind) => (events, now, poll) => {
    for (const e of events) {
      if (e.kind === 'event' && e.conversationId === conversation.id && e.event.type === 'message') received(kind, e.event.cmid, now, poll);
    }
  };

  const senderWs = await h.openSocket(h.serviceSocket(chatPath, sender));
  const windowWs = await h.openSocket(h.serviceSocket(chatPath, readerUsers[0]));
  const inbox = await openInboxSocket(h, readerUsers[1], onDeviceEvents('inbox'));
  const onFeedEvents = (events, now, poll) => {
    for (const e of events) if (e.type === 'message') received(spec.wire, e.cmid, now, poll);
  };
  const device = await (spec.wire === 'sse' ? openSseReader : startLongPoll)(h, readerUsers[2], onDeviceEvents(deviceStream));
  const wire = await (spec.wire === 'sse' ? openFeedSse : startFeedPoll)(h, readerUsers[2], conversation.id, onFeedEvents);

  let firstAck;
  const acking = new Promise((resolve) => (firstAck = resolve));
  senderWs.onmessage = (ev) => {
    const frame = JSON.parse(ev.data);
    if (frame.type === 'ack') {
      const m = sent.get(frame.cmid);
      if (!m) return;
      firstAck();
      if (state.windowOpen) state.acks += 1;
      if (m.recorded) ackLat.push(performance.now() - m.at);
    } else if (frame.type === 'error') {
      h.log(`${spec.shape}: error frame ${ev.data.slice(0, 300)}`);
    }
  };
  windowWs.onmessage = (ev) => {
    const now = performance.now();
    const frame = JSON.parse(ev.data);
    if (frame.type === 'events') for (const e of frame.events) if (e.type === 'message') received('websocket', e.cmid, now);
  };

  function sendOne() {
    const cmid = h.nextCmid();
    const recorded = state.recording;
    sent.set(cmid, { at: performance.now(), recorded, pending: new Set(kinds) });
    if (recorded) {
      state.expected += 1;
      state.outstanding += 1;
    }
    state.seq += 1;
    senderWs.send(JSON.stringify({ type: 'send', cmid, content: { type: 'text', text: `bench message ${state.seq}` } }));
  }

  const stopLoop = openLoop(spec.rate, () => sendOne());

  await untilFirstAck(acking, h.timeouts.connectMs);
  await delay(spec.warmupMs);
  state.recording = true;
  state.windowOpen = true;
  const pollsBefore = wire.polls?.length ?? 0;
  const start = h.snapshot('service');
  await delay(spec.durationMs);
  state.recording = false;
  state.windowOpen = false;
  const end = h.snapshot('service');
  const pollsInWindow = wire.polls?.slice(pollsBefore).filter((p) => p.answeredAt <= end.at) ?? null;
  state.sending = false;
  stopLoop();
  const drainUntil = performance.now() + h.timeouts.drainMs;
  while (state.outstanding > 0 && performance.now() < drainUntil) await delay(20);

  inbox.close();
  await wire.close();
  await device.close();
  await h.closeAll([senderWs, windowWs]);

  const wallS = (end.at - start.at) / 1000;
  const recordedMessages = [...sent.values()].filter((m) => m.recorded);
  const readers = Object.fromEntries(
    kinds.map((kind) => [
      kind,
      {
        deliveriesPerS: round(stats[kind].deliveries / wallS),
        recv: percentiles(stats[kind].latencies),
        lost: recordedMessages.filter((m) => m.pending.has(kind)).length,
      },
    ]),
  );
  return {
    shape: spec.shape,
    target: 'service',
    wire: spec.wire,
    rate: spec.rate,
    msgsPerS: round(state.acks / wallS),
    ack: percentiles(ackLat),
    messages: state.expected,
    lost: state.outstanding,
    readers,
    duplicates: inbox.state.duplicates + wire.state.duplicates + device.state.duplicates,
    wireEnded: wire.state.ended ?? device.state.ended,
    ...(pollsInWindow ? { repoll: repollFigures(pollsInWindow, repoll, wallS, wire.polls) } : {}),
    ...h.usage('service', start, end),
  };
}

/**
 * What long polling's re-poll costs: how often the client polls, how many events each
 * answer carries, the client's own gap between an answer and the next poll, and the
 * latency of messages that were sent before the poll carrying them left (they waited
 * for a re-poll) against those a waiting poll answered.
 */
function repollFigures(polls, repoll, wallS, allPolls) {
  const gaps = [];
  for (const poll of polls) {
    const previous = allPolls[allPolls.indexOf(poll) - 1];
    if (previous) gaps.push(poll.sentAt - previous.answeredAt);
  }
  const events = polls.reduce((n, p) => n + p.events, 0);
  const total = repoll.inGap.length + repoll.held.length;
  return {
    pollsPerS: round(polls.length / wallS),
    eventsPerPoll: polls.length ? round(events / polls.length, 2) : null,
    pollMs: percentiles(polls.map((p) => p.answeredAt - p.sentAt)),
    gapMs: percentiles(gaps),
    inGapShare: total ? round(repoll.inGap.length / total, 2) : null,
    recvInGap: percentiles(repoll.inGap),
    recvHeld: percentiles(repoll.held),
  };
}
