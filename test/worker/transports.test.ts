import { describe, expect, it } from 'vitest';
import { DeviceEvent, type Session } from '../../src/protocol/index.js';
import { SSE_HEARTBEAT } from '../../src/sse.js';
import { sseStream, type EventSource } from '../../src/user/stream.js';
import { SseParser } from '../../src/client/sse.js';
import { ok } from '../../src/errors.js';
import { call, createGroup, headStart, json, openWindow, registerUser } from './helpers.js';
import { openInbox, range, text } from './inbox-helpers.js';
import { openSse, poll } from './stream-helpers.js';

type Wire = 'websocket' | 'sse' | 'long-poll';

/** A device reading its event stream over one wire. */
interface StreamReader {
  events(): DeviceEvent[];
  close(): void;
}

async function reader(wire: Wire, session: Session): Promise<StreamReader> {
  if (wire === 'websocket') return openInbox(session);
  if (wire === 'sse') return openSse(session);
  // Long polling: the first (empty) poll makes the device known; then poll until told to stop.
  const got: DeviceEvent[] = [];
  let cursor = (await poll(session, { timeoutMs: 0 })).lastCursor;
  let stopped = false;
  void (async () => {
    for (let i = 0; i < 200 && !stopped; i++) {
      const page = await poll(session, { cursor, timeoutMs: 500 });
      got.push(...page.events);
      cursor = page.events.at(-1)?.cursor ?? cursor;
    }
  })();
  return { events: () => got, close: () => (stopped = true) };
}

const post = (session: Session, path: string, body: unknown, method = 'POST', status = method === 'POST' && path.endsWith('/messages') ? 201 : 200) =>
  json(path, { token: session.accessToken, body, method }, status);

/**
 * The same conversation, played by the same script: messages, a reply, an edit, a
 * reaction, a delete for everyone. Returns what Bob's device received, with the ids and
 * times that differ between runs replaced by names.
 */
async function playScript(wire: Wire): Promise<unknown[]> {
  const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
  const device = await reader(wire, bob);
  const id = await createGroup(alice, [bob], 'script');
  const path = `/v1/conversations/${id}`;
  // Each step waits until the device has it: events reach queues rendered as they stand
  // when their fan-out pass runs, so a message and its delete in one pass arrive as a
  // tombstone (src/conversation/fanout.ts). Step by step, every wire sees the same passes.
  let seq = 0;
  const step = async (act: () => Promise<unknown>) => {
    await act();
    seq += 1;
    const deadline = Date.now() + 15_000;
    while (!device.events().some((e) => e.kind === 'event' && e.event.seq === seq)) {
      if (Date.now() > deadline) throw new Error(`${wire}: seq ${seq} of the script did not arrive`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await step(() => post(alice, `${path}/messages`, { cmid: 'script-0001', content: text('hello') }));
  await step(() => post(alice, `${path}/messages`, { cmid: 'script-0002', content: text('how are you?') }));
  await step(() => post(bob, `${path}/messages`, { cmid: 'script-0003', content: text('fine'), replyToSeq: 1 }));
  await step(() => post(alice, `${path}/messages/1`, { content: text('hello, Bob') }, 'PATCH'));
  await step(() => post(bob, `${path}/messages/2/reactions`, { emoji: '👍' }));
  await step(() => json(`${path}/messages/2?scope=everyone`, { token: alice.accessToken, method: 'DELETE' }, 200));
  await step(() => post(alice, `${path}/messages`, { cmid: 'script-0004', content: text('end') }));
  device.close();
  const names = new Map<string, string>([
    [id, 'conversation'],
    [alice.user.id, 'alice'],
    [bob.user.id, 'bob'],
    [alice.deviceId, 'alice-device'],
    [bob.deviceId, 'bob-device'],
  ]);
  const events = device.events().map((e) => DeviceEvent.parse(e));
  // Membership and conversation events travel separately; within each kind the order is fixed.
  const ordered = [...events.filter((e) => e.kind === 'membership'), ...events.filter((e) => e.kind === 'event')];
  return JSON.parse(
    JSON.stringify(ordered, (key, value: unknown) => {
      if (key === 'cursor' || key === 'ts' || key === 'at') return 0;
      return typeof value === 'string' ? (names.get(value) ?? value) : value;
    }),
  ) as unknown[];
}

describe('one event stream, three wires', () => {
  it('the same conversation script gives identical histories over the inbox socket, SSE and long polling', async () => {
    const [ws, sse, lp] = [await playScript('websocket'), await playScript('sse'), await playScript('long-poll')];
    // A membership event and seqs 1-7: three messages, a reply, an edit, a reaction, a delete.
    expect(ws.length).toBe(8);
    expect(sse).toEqual(ws);
    expect(lp).toEqual(ws);
  });
});

describe('Server-Sent Events', () => {
  it('gives every event its cursor as SSE id and resumes after Last-Event-ID, acknowledging up to it', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const first = await openSse(bob);
    expect(first.frames[0]).toMatchObject({ type: 'inbox_ready', userId: bob.user.id, deviceId: bob.deviceId });
    const id = await createGroup(alice, [bob]);
    const window = await openWindow(alice, id);
    for (let i = 1; i <= 10; i++) window.send({ type: 'send', cmid: `resume-${String(i).padStart(4, '0')}`, content: text(`m${i}`) });
    const seqsOf = (events: DeviceEvent[]) => events.flatMap((e) => (e.kind === 'event' ? [e.event.seq] : []));
    await first.until(() => seqsOf(first.events()).length >= 10, '10 messages');
    expect(first.ids).toEqual(first.events().map((e) => String(e.cursor)));
    first.close();

    // Resume in the middle: exactly what came after, in order, once.
    const middle = first.events()[5]!;
    const second = await openSse(bob, { lastEventId: String(middle.cursor) });
    expect(second.frames[0]).toMatchObject({ type: 'inbox_ready', ackedCursor: middle.cursor });
    expect(second.events()).toEqual(first.events().slice(6));
    second.close();

    // The resume acknowledged up to it: a stream without a cursor starts there too.
    const third = await openSse(bob);
    expect(third.events().map((e) => e.cursor)).toEqual(first.events().slice(6).map((e) => e.cursor));
    third.close();
    // The `cursor` query parameter works like Last-Event-ID.
    const last = first.events().at(-1)!.cursor;
    const fourth = await openSse(bob, { cursor: last - 2 });
    expect(fourth.events().map((e) => e.cursor)).toEqual([last - 1, last]);
    fourth.close();
    window.close();
  });

  it('carries live events after caught_up', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    const stream = await openSse(bob);
    const before = stream.events().length;
    await post(alice, `/v1/conversations/${id}/messages`, { cmid: 'live-000001', content: text('live') });
    await stream.until(() => stream.events().slice(before).some((e) => e.kind === 'event' && e.event.type === 'message'), 'the live message');
    const caughtUp = stream.frames.findIndex((f) => f.type === 'caught_up');
    expect(stream.frames.findLastIndex((f) => f.type === 'deliver')).toBeGreaterThan(caughtUp);
    stream.close();
  });

  it('refuses a Last-Event-ID that is not a cursor, and a missing token', async () => {
    const bob = await registerUser('bob');
    const bad = await call('/v1/inbox/events', { token: bob.accessToken, headers: { 'last-event-id': 'yesterday' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe('invalid_request');
    const anonymous = await call('/v1/inbox/events');
    expect(anonymous.status).toBe(401);
  });

  it('writes heartbeat comments while quiet and ends after its lifetime (clock injected)', async () => {
    let clock = 0;
    const page = ok({ events: [], lastCursor: 0, truncated: false });
    const source: EventSource = {
      readEvents: async () => page,
      ackEvents: async () => ok({ cursor: 0 }),
      waitForEvents: async (_d, _a, timeoutMs) => {
        clock += timeoutMs;
        return page;
      },
    };
    const body = sseStream(source, { userId: 'u1', deviceId: 'd1', cursor: null, now: () => clock, heartbeatMs: 100, lifetimeMs: 1_000 });
    const text = await new Response(body).text();
    expect(text.split(SSE_HEARTBEAT).length - 1).toBe(10);
    const frames = new SseParser().push(text).map((m) => JSON.parse(m.data).type);
    expect(frames).toEqual(['inbox_ready', 'caught_up']);
  });
});

describe('long polling', () => {
  it('answers at once when events wait, holds until one arrives, and acknowledges by the next cursor', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const start = await poll(bob, { timeoutMs: 0 });
    const id = await createGroup(alice, [bob]);
    const path = `/v1/conversations/${id}/messages`;
    await post(alice, path, { cmid: 'poll-00001', content: text('one') });

    // Events are waiting (membership and messages): answered without a hold.
    let page = await poll(bob, { cursor: start.lastCursor });
    while (!page.events.some((e) => e.kind === 'event' && e.event.type === 'message')) page = await poll(bob, { cursor: page.events.at(-1)?.cursor ?? start.lastCursor, timeoutMs: 2_000 });
    const cursor = page.events.at(-1)!.cursor;

    // Nothing waiting: held until a message arrives, well before the hold ends.
    const held = poll(bob, { cursor, timeoutMs: 20_000 });
    const sentAt = Date.now();
    await headStart(300);
    await post(alice, path, { cmid: 'poll-00002', content: text('two') });
    const woken = await held;
    expect(Date.now() - sentAt).toBeLessThan(10_000);
    expect(woken.events.map((e) => (e.kind === 'event' && e.event.type === 'message' ? e.event.cmid : null))).toEqual(['poll-00002']);

    // Nothing waiting and nothing coming: an empty answer after the hold.
    const quietFrom = woken.events.at(-1)!.cursor;
    const t0 = Date.now();
    const quiet = await poll(bob, { cursor: quietFrom, timeoutMs: 300 });
    expect(quiet.events).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);

    // The cursor acknowledged everything up to it: a poll without one starts after it.
    expect((await poll(bob, { timeoutMs: 0 })).events).toEqual([]);
  });

  it('POST /v1/inbox/ack acknowledges by cursor, like the socket frame', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    await poll(bob, { timeoutMs: 0 });
    const id = await createGroup(alice, [bob]);
    await post(alice, `/v1/conversations/${id}/messages`, { cmid: 'ack-000001', content: text('x') });
    const stream = await openSse(bob);
    await stream.until(() => stream.events().some((e) => e.kind === 'event'), 'the message');
    stream.close();
    const last = stream.events().at(-1)!.cursor;
    expect(await json('/v1/inbox/ack', { token: bob.accessToken, body: { cursor: last } }, 200)).toEqual({ cursor: last });
    expect((await poll(bob, { timeoutMs: 0 })).events).toEqual([]);
    const bad = await json('/v1/inbox/ack', { token: bob.accessToken, body: { cursor: -1 } }, 400);
    expect(bad.code).toBe('invalid_request');
  });
});

describe('sending over HTTP is the socket send', () => {
  it('same cmid rules, same ack, same errors', async () => {
    const [alice, bob, mallory] = [await registerUser('alice'), await registerUser('bob'), await registerUser('mallory')];
    const id = await createGroup(alice, [bob]);
    const path = `/v1/conversations/${id}/messages`;
    const first = await call(path, { token: alice.accessToken, body: { cmid: 'http-000001', content: text('hi') } });
    expect(first.status).toBe(201);
    const ack = (await first.json()) as { cmid: string; seq: number; duplicate: boolean };
    expect(ack).toMatchObject({ cmid: 'http-000001', duplicate: false });
    // A retry over HTTP, and the same cmid over the socket: the original ack, no second message.
    const again = await call(path, { token: alice.accessToken, body: { cmid: 'http-000001', content: text('hi') } });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ seq: ack.seq, duplicate: true });
    const window = await openWindow(alice, id);
    window.send({ type: 'send', cmid: 'http-000001', content: text('hi') });
    expect(await window.next('ack')).toMatchObject({ cmid: 'http-000001', seq: ack.seq, duplicate: true });
    // Errors carry the same codes: a stranger is told the conversation does not exist.
    const refused = await json(path, { token: mallory.accessToken, body: { cmid: 'http-000002', content: text('x') } }, 404);
    const strangerWindow = await call(`/v1/conversations/${id}/messages`, { token: mallory.accessToken, body: { cmid: 'http-000002', content: { type: 'text', text: '' } } });
    expect(refused.code).toBe('conversation_not_found');
    expect(strangerWindow.status).toBe(400);
    window.send({ type: 'send', cmid: 'http-000003', content: { type: 'text', text: '' } });
    const socketError = await window.next('error');
    expect(socketError.code).toBe(((await strangerWindow.json()) as { code: string }).code);
    const history = await json(`${path.replace('/messages', '/events')}`, { token: alice.accessToken }, 200);
    expect(history.events.filter((e: { type: string }) => e.type === 'message').map((e: { seq: number }) => e.seq)).toEqual(range(ack.seq, ack.seq));
    window.close();
  });
});
