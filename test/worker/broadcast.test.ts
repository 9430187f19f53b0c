import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { createGroup, json, openWindow, quietPeriod, registerUser } from './helpers.js';
import { cmid, text } from './lifecycle-helpers.js';
import { service } from './abuse-helpers.js';
import type { ConversationEvent } from '../../src/protocol/index.js';
import { BROADCAST, EventBatcher, intervalMs } from '../../src/conversation/batcher.js';

const seqsOf = (events: ConversationEvent[]) => events.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('broadcast batching', () => {
  it('a message after a quiet spell goes out at once, in a frame of its own', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    const [aw, bw] = [await openWindow(alice, id), await openWindow(bob, id)];
    for (let n = 0; n < 3; n++) {
      await quietPeriod(BROADCAST.minIntervalMs * 10); // the quiet spell the test is about
      aw.send({ type: 'send', cmid: cmid(), content: text(`quiet ${n}`) });
      await bw.until(() => bw.events().length === n + 1, `message ${n}`);
    }
    const frames = bw.frames.filter((f) => f.type === 'events');
    expect(frames.map((f) => (f.type === 'events' ? f.events.length : 0))).toEqual([1, 1, 1]);
    aw.close();
    bw.close();
  });

  it('a burst reaches every window exactly once and in seq order', async () => {
    // Service accounts: a burst of 200 is far past a person's message limits.
    const [alice, bob] = [await service(await registerUser('alice')), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    const [aw, bw] = [await openWindow(alice, id), await openWindow(bob, id)];
    const count = 200;
    for (let n = 0; n < count; n++) aw.send({ type: 'send', cmid: cmid(), content: text(`burst ${n}`) });
    await aw.until((f) => f.filter((x) => x.type === 'ack').length === count, 'all acks', 30_000);
    for (const w of [aw, bw]) {
      await w.until(() => w.events().length >= count, 'all events', 30_000);
      expect(seqsOf(w.events())).toEqual(range(1, count));
    }
    // Search sees every message of the burst, indexed after the acks.
    const found = await json(`/v1/conversations/${id}/search?q=burst&limit=50`, { token: bob.accessToken }, 200);
    expect(found.results).toHaveLength(50);
    aw.close();
    bw.close();
  });

  it('other frames wait for the events before them: a removed member gets its removal before the close', async () => {
    const [alice, bob] = [await service(await registerUser('alice')), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    const [aw, bw] = [await openWindow(alice, id), await openWindow(bob, id)];
    for (let n = 0; n < 20; n++) aw.send({ type: 'send', cmid: cmid(), content: text(`before ${n}`) });
    await aw.until((f) => f.filter((x) => x.type === 'ack').length === 20, 'acks');
    await json(`/v1/conversations/${id}/members/${bob.user.id}`, { token: alice.accessToken, method: 'DELETE' }, 204);
    await bw.waitClosed();
    expect(seqsOf(bw.events())).toEqual(range(1, 21));
    expect(bw.events().at(-1)).toMatchObject({ type: 'member_removed', userId: bob.user.id });
    aw.close();
  });

  it('coalesces what comes within the interval into one frame, sent when the interval ends', async () => {
    let now = 1_000;
    const frames: number[][] = [];
    const batcher = new EventBatcher((events) => frames.push(events.map((e) => e.seq)), () => now);
    const event = (seq: number) => ({ seq, type: 'message', ts: now, author: { userId: 'u', deviceId: 'd' }, cmid: `c${seq}` }) as ConversationEvent;
    batcher.add([event(1)], 2);
    expect(frames).toEqual([[1]]);
    now += 1;
    batcher.add([event(2)], 2);
    batcher.add([event(3)], 2);
    expect(frames).toEqual([[1]]);
    // The held events go out on the batcher's own timer.
    await expect.poll(() => frames, { timeout: 1_000, interval: 5 }).toEqual([[1], [2, 3]]);
    // Another frame must not overtake what waits: flush sends it first.
    now += 1;
    batcher.add([event(4)], 2);
    batcher.flush();
    expect(frames).toEqual([[1], [2, 3], [4]]);
    now += 10;
    batcher.add([event(5)], 2);
    expect(frames).toEqual([[1], [2, 3], [4], [5]]);
  });

  it('the interval grows with the sockets, within bounds', () => {
    expect(intervalMs(2)).toBe(BROADCAST.minIntervalMs);
    expect(intervalMs(100)).toBe(5);
    expect(intervalMs(100_000)).toBe(BROADCAST.maxIntervalMs);
  });
});

describe('the send path keeps its state in memory, and SQLite agrees', () => {
  it('a refused send takes no seq: the seq kept in memory and the stored one agree', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    const send = async (body: object, status = 201) =>
      json(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: cmid(), ...body } }, status);
    expect((await send({ content: text('one') })).seq).toBe(1);
    // A reply to a message that does not exist fails before anything is written.
    expect((await send({ content: text('bad'), replyToSeq: 99 }, 404)).code).toBe('not_found');
    expect((await send({ content: text('two') })).seq).toBe(2);
    const stub = env.CONVERSATIONS.getByName(id);
    const stored = await runInDurableObject(stub, (_i, state) => state.storage.sql.exec<{ n: number }>('SELECT max(seq) AS n FROM events').one().n);
    expect(stored).toBe(2);
  });
});
