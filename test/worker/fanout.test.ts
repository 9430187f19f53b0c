import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { createDirect, createGroup, json, openWindow, partsOf, storeFanoutTarget } from './helpers.js';
import { openInbox, sendBurst, silentUsers, sqlCost, text } from './inbox-helpers.js';
import type { ConversationSummary, Session } from '../../src/protocol/index.js';
import { FANOUT_DEFAULTS as FANOUT, FANOUT as FANOUT_LIMITS, fanoutTuning, passIntervalMs as interval } from '../../src/conversation/fanout.js';

const passIntervalMs = (members: number) => interval(FANOUT, members);
import { serviceUser } from './abuse-helpers.js';
import * as eventLog from '../../src/conversation/log.js';
import * as fanout from '../../src/conversation/fanout.js';
import * as members from '../../src/conversation/members.js';
import { DELIVERY } from '../../src/conversation/delivery.js';
import type { ConversationDO } from '../../src/conversation/ConversationDO.js';

const list = async (s: Session): Promise<ConversationSummary[]> => (await json('/v1/conversations', { token: s.accessToken }, 200)).conversations;
const send = (s: Session, id: string, t: string) =>
  json(`/v1/conversations/${id}/messages`, { token: s.accessToken, body: { cmid: crypto.randomUUID(), content: text(t) } }, 201);

/** Rows in the ConversationDO's fan-out bookkeeping. */
async function bookkeeping(id: string): Promise<{ outbox: number; lag: number; state: number }> {
  return runInDurableObject(env.CONVERSATIONS.getByName(id), (_i, state) => {
    const n = (table: string) => state.storage.sql.exec(`SELECT count(*) AS n FROM ${table}`).one().n as number;
    return { outbox: n('outbox'), lag: n('fanout_lag'), state: n('fanout_state') };
  });
}

async function rowsWrittenDuring(id: string, fn: () => Promise<unknown>): Promise<number> {
  return (await sqlCost(env.CONVERSATIONS.getByName(id), fn)).rowsWritten;
}

describe('the conversation list', () => {
  it('has last seq, a preview and unread counts from the read watermark, most recent first', async () => {
    const [alice, bob, carol] = [await serviceUser('alice'), await serviceUser('bob'), await serviceUser('carol')];
    const withBob = await createDirect(alice, bob);
    const withCarol = await createDirect(alice, carol);
    for (let i = 0; i < 3; i++) await send(bob, withBob, `from bob ${i}`);
    await send(carol, withCarol, 'from carol, the newest');
    const alices = env.USERS.getByName(alice.user.id);
    const deadline = Date.now() + 10_000;
    let rows = await list(alice);
    // Fan-out runs after the acks: wait until both conversations have caught up.
    while ((rows[0]?.id !== withCarol || rows[1]?.lastSeq !== 3) && Date.now() < deadline) rows = await list(alice);
    expect(rows.map((r) => r.id)).toEqual([withCarol, withBob]);
    expect(rows[1]).toMatchObject({ lastSeq: 3, unreadCount: 3, readSeq: 0, preview: { seq: 3, authorId: bob.user.id, text: 'from bob 2' } });
    expect(rows[0]).toMatchObject({ lastSeq: 1, unreadCount: 1 });

    // A read update (what the read-receipt path sends) moves the watermark; never back.
    await alices.apply([{ type: 'read', conversationId: withBob, seq: 2, ts: Date.now() }]);
    await alices.apply([{ type: 'read', conversationId: withBob, seq: 1, ts: Date.now() }]);
    expect((await list(alice)).find((r) => r.id === withBob)).toMatchObject({ readSeq: 2, unreadCount: 1 });
    // Writing marks everything before your own message read.
    await send(alice, withBob, 'from alice');
    await send(bob, withBob, 'and bob again');
    await expect.poll(async () => (await list(alice)).find((r) => r.id === withBob), { timeout: 10_000 }).toMatchObject({
      lastSeq: 5,
      readSeq: 4,
      unreadCount: 1,
      preview: { text: 'and bob again' },
    });
    expect((await list(alice))[0]!.id).toBe(withBob);
    // A retried delivery (the same seq twice) counts once.
    const event = { seq: 6, ts: Date.now(), type: 'message' as const, author: { userId: bob.user.id, deviceId: bob.deviceId }, cmid: 'retried-cmid', content: { type: 'text' as const, text: 'retried' } };
    const update = { type: 'events' as const, conversationId: withBob, conversationKind: 'direct' as const, events: [event] };
    await alices.apply([update]);
    await alices.apply([update]);
    expect((await list(alice)).find((r) => r.id === withBob)).toMatchObject({ lastSeq: 6, unreadCount: 2 });
  });

  it('long messages are previewed shortened', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const id = await createDirect(alice, bob);
    await send(bob, id, `${'x'.repeat(300)}`);
    await expect.poll(async () => (await list(alice))[0]?.preview?.text.length, { timeout: 10_000 }).toBe(100);
  });
});

describe('fan-out at a steady rate', () => {
  it('a member gets one call per pass carrying what was sent meanwhile, the first message after a quiet spell at once, each message once and in order', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const id = await createDirect(alice, bob);
    const bobInbox = await openInbox(bob);
    const window = await openWindow(alice, id);
    const framesWith = () => bobInbox.frames.filter((f) => f.type === 'deliver' && f.events.some((e) => e.kind === 'event' && e.conversationId === id)).length;

    // A lone message goes at once: its own pass, its own frame.
    await sendBurst(window, 1, 'lone');
    await bobInbox.until(() => bobInbox.seqs(id).length === 1, 'the lone message');
    expect(framesWith()).toBe(1);

    // 40 messages, one every 10 ms (100 msg/s, ~400 ms): passes FANOUT.minPassIntervalMs apart.
    const count = 40;
    for (let i = 0; i < count; i++) {
      window.send({ type: 'send', cmid: `steady-${i}`, content: text(`steady ${i}`) });
      await scheduler.wait(10);
    }
    await bobInbox.until(() => bobInbox.seqs(id).length === count + 1, 'every steady message');
    expect(bobInbox.seqs(id)).toEqual(Array.from({ length: count + 1 }, (_, i) => i + 1));
    const calls = framesWith() - 1;
    console.log(`steady 100 msg/s: ${count} messages reached the inbox in ${calls} frames`);
    // One call per pass: ~400 ms of sending at one pass per 100 ms is about 5, not 40.
    expect(calls).toBeLessThanOrEqual(Math.ceil((count * 10) / FANOUT.minPassIntervalMs) + 3);
    bobInbox.close();
    window.close();
  });

  it('a member watching in a chat window gets one call per FANOUT.watchingIntervalMs, the rest when due without another send; one not watching gets every pass', async () => {
    const [alice, bob, carol] = [await serviceUser('alice'), await serviceUser('bob'), await serviceUser('carol')];
    const id = await createGroup(alice, [bob, carol], 'watched');
    const [bobInbox, carolInbox] = [await openInbox(bob), await openInbox(carol)];
    const [aliceWindow, bobWindow] = [await openWindow(alice, id), await openWindow(bob, id)];
    const callsTo = (inbox: typeof bobInbox) => inbox.frames.filter((f) => f.type === 'deliver' && f.events.some((e) => e.kind === 'event' && e.conversationId === id)).length;

    // After a quiet spell the first message goes to everyone at once.
    await sendBurst(aliceWindow, 1, 'lone');
    await bobInbox.until(() => bobInbox.seqs(id).length === 1, 'the lone message, watching');
    await carolInbox.until(() => carolInbox.seqs(id).length === 1, 'the lone message');
    const startedAt = Date.now();

    const count = 40;
    for (let i = 0; i < count; i++) {
      aliceWindow.send({ type: 'send', cmid: `watched-${i}`, content: text(`watched ${i}`) });
      await scheduler.wait(10);
    }
    const [lastSeq] = (await sendBurst(aliceWindow, 1, 'last')).slice(-1);
    const lastAckAt = Date.now();
    const every = Array.from({ length: lastSeq! }, (_, i) => i + 1);
    await carolInbox.until(() => carolInbox.seqs(id).length === lastSeq, 'every message, not watching');
    // No send follows: what bob waits for comes when due (the alarm), well before the safety alarm.
    await bobInbox.until(() => bobInbox.seqs(id).length === lastSeq, 'every message, watching');
    const tailAt = Date.now();
    expect(bobInbox.seqs(id)).toEqual(every);
    expect(carolInbox.seqs(id)).toEqual(every);
    expect(tailAt - lastAckAt).toBeLessThan(DELIVERY.safetyAlarmMs);
    const [bobCalls, carolCalls] = [callsTo(bobInbox) - 1, callsTo(carolInbox) - 1];
    console.log(`watching: ${lastSeq! - 1} messages over ${tailAt - startedAt} ms reached bob (watching) in ${bobCalls} calls, carol in ${carolCalls}`);
    expect(bobCalls).toBeLessThanOrEqual(Math.ceil((tailAt - startedAt) / FANOUT.watchingIntervalMs) + 1);
    expect(carolCalls).toBeGreaterThan(bobCalls);
    for (const socket of [bobInbox, carolInbox, aliceWindow, bobWindow]) socket.close();
  });

  it('watching members due together are called a quota a pass, those due longest first, each once with everything: their calls then stay spread', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const id = await createDirect(alice, bob);
    const size = 35;
    const ids = Array.from({ length: size }, (_, i) => `watcher-${String(i).padStart(2, '0')}`);
    const tuning = { ...FANOUT, minPassIntervalMs: 20, passIntervalPerMemberMs: 0, watchingIntervalMs: 200 };
    const quota = fanout.watchingQuota(tuning, size);
    // 200 ms of passes 20 ms apart: 10 passes, so 35 members go 4 a pass, at least FANOUT.watchingCallsPerPass.
    expect(quota).toBe(FANOUT_LIMITS.watchingCallsPerPass);
    const spread = await runInDurableObject(env.CONVERSATIONS.getByName(id), async (instance: ConversationDO) => {
      const { store } = partsOf(instance);
      const author = { userId: alice.user.id, deviceId: alice.deviceId };
      const post = (label: string) => eventLog.append(store, { type: 'message', ts: Date.now(), author, cmid: label, content: { type: 'text', text: label } }).seq;
      const first = post('seen-by-all');
      const memory = fanout.newPassMemory();
      memory.sentUpTo = first;
      // Everyone was called in one pass, a watching interval ago (the first message after a quiet spell)
      // and left behind since; the earlier in the list, the later due.
      const now = Date.now();
      ids.forEach((userId, i) => memory.behind.set(userId, { upTo: first, dueAt: now - 1 - i }));
      for (let i = 0; i < 3; i++) post(`behind-${i}`);
      const passes: { userId: string; seqs: number[] }[][] = [];
      const target = storeFanoutTarget(store, id, {
        memberCount: () => size,
        members: () => ids,
        isMember: (userId) => ids.includes(userId),
        watching: () => true,
        tuning,
        memory,
        record: (metric) => void (metric.kind === 'fanout' && metric.outcome === 'pass' && passes.push([])),
        deliver: async (userId, update) => void passes.at(-1)!.push({ userId, seqs: update.type === 'events' ? update.events.map((e) => e.seq) : [] }),
      });
      await fanout.drain(target);
      const firstRound = passes.splice(0);
      const calledAt = [...memory.calledAt.values()];
      // The next send leaves everyone behind, each due at their own time; a timer wakes
      // for the first due (as src/conversation/delivery.ts does) until none is behind.
      const last = post('next');
      await fanout.drain(target);
      for (let wakes = 0; memory.behind.size > 0 && wakes < 20; wakes++) {
        await scheduler.wait(Math.max(0, fanout.behindDue(memory)! - Date.now()));
        await fanout.drain(target);
      }
      return { firstRound, secondRound: passes, calledAt, last };
    });
    const sizes = spread.firstRound.map((pass) => pass.length);
    expect(sizes).toEqual([10, 10, 10, 5]);
    // Due longest first: the end of the list, in that order.
    expect(spread.firstRound.flat().map((c) => c.userId)).toEqual([...ids].reverse());
    for (const call of spread.firstRound.flat()) expect(call.seqs).toEqual([2, 3, 4]);
    // Called in four passes, 20 ms apart: they come due apart too, and go as they came.
    expect(new Set(spread.calledAt).size).toBe(4);
    for (const pass of spread.secondRound) expect(pass.length).toBeLessThanOrEqual(quota);
    expect(spread.secondRound.flat().map((c) => c.userId).sort()).toEqual(ids);
    for (const call of spread.secondRound.flat()) expect(call.seqs).toEqual([spread.last]);
  });

  it('a watching member in a burst of more than a page a pass gets every page back to back, not one a watching interval', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const id = await createDirect(alice, bob);
    const count = 2 * FANOUT_LIMITS.batchEvents + 100;
    const tuning = { ...FANOUT, watchingIntervalMs: 60_000 };
    const pages = await runInDurableObject(env.CONVERSATIONS.getByName(id), async (instance: ConversationDO) => {
      const { store } = partsOf(instance);
      const author = { userId: alice.user.id, deviceId: alice.deviceId };
      store.transaction(() => {
        for (let i = 0; i < count; i++) eventLog.append(store, { type: 'message', ts: Date.now(), author, cmid: `burst-${i}`, content: { type: 'text', text: `burst ${i}` } });
      });
      const got: number[][] = [];
      const target = storeFanoutTarget(store, id, {
        memberCount: () => 1,
        members: () => ['watcher'],
        isMember: (userId) => userId === 'watcher',
        watching: () => true,
        tuning,
        memory: fanout.newPassMemory(),
        deliver: async (_userId, update) => void got.push(update.type === 'events' ? update.events.map((e) => e.seq) : []),
      });
      await fanout.drain(target);
      return got;
    });
    // Watching, with a minute between calls: still the whole burst in one drain, in order, once.
    expect(pages.map((p) => p.length)).toEqual([FANOUT_LIMITS.batchEvents, FANOUT_LIMITS.batchEvents, 100]);
    expect(pages.flat()).toEqual(Array.from({ length: count }, (_, i) => i + 1));
  });

  it('a member left behind while watching loses nothing to an eviction: the stored watermark waits for them, the alarm resends', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const id = await createDirect(alice, bob);
    const stub = env.CONVERSATIONS.getByName(id);
    const bobInbox = await openInbox(bob);
    const [aliceWindow, bobWindow] = [await openWindow(alice, id), await openWindow(bob, id)];
    await sendBurst(aliceWindow, 1, 'lone');
    await bobInbox.until(() => bobInbox.seqs(id).length === 1, 'the lone message');
    const burst = await sendBurst(aliceWindow, 5, 'burst');
    // One more send stores the watermark the passes reached: no further than bob's place.
    await sendBurst(aliceWindow, 1, 'persist');
    const stored = await runInDurableObject(stub, (_i, state) => state.storage.sql.exec<{ done: number }>('SELECT done_seq AS done FROM fanout_state').one().done);
    expect(bobInbox.seqs(id)).toEqual([1]);
    expect(stored).toBe(1);
    expect(burst.at(-1)).toBe(6);
    // The timer that would have woken for bob is lost with the instance: the alarm resends.
    await evictDurableObject(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await bobInbox.until(() => bobInbox.seqs(id).length === 7, 'every message, from the alarm');
    await send(alice, id, 'after the eviction');
    await bobInbox.until(() => bobInbox.seqs(id).length === 8, 'every message');
    await scheduler.wait(200);
    expect(bobInbox.seqs(id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    bobInbox.close();
  });

  it('a member removed while left behind (window open) gets nothing sent after the removal: his window closes, his inbox hears no more', async () => {
    const [alice, bob, carol] = [await serviceUser('alice'), await serviceUser('bob'), await serviceUser('carol')];
    const id = await createGroup(alice, [bob, carol], 'removal while behind');
    const bobInbox = await openInbox(bob);
    const [aliceWindow, bobWindow] = [await openWindow(alice, id), await openWindow(bob, id)];
    await sendBurst(aliceWindow, 1, 'lone');
    await bobInbox.until(() => bobInbox.seqs(id).length === 1, 'the lone message');
    // Bob watches, so these wait for his next call; he is removed before it.
    await sendBurst(aliceWindow, 3, 'behind');
    expect(bobInbox.seqs(id)).toEqual([1]);
    await json(`/v1/conversations/${id}/members/${bob.user.id}`, { token: alice.accessToken, method: 'DELETE' }, 204);
    expect((await bobWindow.waitClosed()).code).toBe(4003);
    await bobInbox.until(() => bobInbox.events().some((e) => e.kind === 'membership' && e.conversationId === id && e.role === null), 'his removal');
    const after = await sendBurst(aliceWindow, 3, 'after');
    // Past the time he was due, and past the passes that carried these to carol.
    await scheduler.wait(FANOUT.watchingIntervalMs + 500);
    expect(bobInbox.seqs(id).filter((seq) => after.includes(seq))).toEqual([]);

    // The pass's own part (his UserDO refuses events of a conversation he left, too): a
    // member remembered behind who is no longer one gets no call, and holds back no watermark.
    const pass = await runInDurableObject(env.CONVERSATIONS.getByName(id), async (instance: ConversationDO) => {
      const { store } = partsOf(instance);
      const last = eventLog.lastSeq(store);
      const memory = fanout.newPassMemory();
      memory.sentUpTo = last - 1;
      memory.behind.set(bob.user.id, { upTo: 1, dueAt: 0 });
      const called: string[] = [];
      await fanout.drain(storeFanoutTarget(store, id, { memory, deliver: async (userId) => void called.push(userId) }));
      fanout.persistWatermark(store, memory);
      return { called, behind: [...memory.behind.keys()], stored: fanout.state(store).doneSeq, last };
    });
    expect(pass.called.sort()).toEqual([alice.user.id, carol.user.id].sort());
    expect(pass.behind).toEqual([]);
    expect(pass.stored).toBe(pass.last);
    bobInbox.close();
    aliceWindow.close();
  });

  it('a pass writes nothing of its own: its watermark goes with the next send, or the alarm; after an eviction the last pass comes again, applied once', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const id = await createDirect(alice, bob);
    const stub = env.CONVERSATIONS.getByName(id);
    // The alarm the creation armed (5 s ahead) must not fire midway, however slow the run:
    // moved far ahead, it runs only when runDurableObjectAlarm below asks.
    await runInDurableObject(stub, (_i, state) => state.storage.setAlarm(Date.now() + 3_600_000));
    const bobInbox = await openInbox(bob);
    const stored = () => runInDurableObject(stub, (_i, state) => state.storage.sql.exec<{ done: number }>('SELECT done_seq AS done FROM fanout_state').one().done);
    const watermarkWrites = (writes: string[]) => writes.filter((q) => q.includes('fanout_state')).length;
    // Sent over HTTP: with no chat window open, no member waits (FANOUT.watchingIntervalMs).
    const sendOne = async (label: string) => {
      const { seq } = (await send(alice, id, label)) as { seq: number };
      await bobInbox.until(() => bobInbox.seqs(id).includes(seq), label);
      return seq;
    };

    let first = 0;
    const lone = await sqlCost(stub, async () => (first = await sendOne('first')));
    expect(watermarkWrites(lone.writes)).toBe(0);
    expect(await stored()).toBeLessThan(first);

    let second = 0;
    const next = await sqlCost(stub, async () => (second = await sendOne('second')));
    expect(watermarkWrites(next.writes)).toBe(1);
    expect(await stored()).toBe(first);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stored()).toBe(second);

    // Evicted after a pass whose watermark was only in memory: the next drain starts from
    // the stored one, and bob's UserDO applies the repeated event once.
    const third = await sendOne('third');
    expect(await stored()).toBe(second);
    await evictDurableObject(stub);
    const fourth = await sendOne('fourth');
    await scheduler.wait(200);
    expect(bobInbox.seqs(id)).toEqual([first, second, third, fourth]);
    bobInbox.close();
  });

  it('a backlog goes in full passes (FANOUT.batchEvents), back to back, each message once and in order', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const id = await createDirect(alice, bob);
    const bobInbox = await openInbox(bob);
    const count = 600;
    // The backlog is stored in one step before any pass, so the passes are 250, 250, 100.
    await runInDurableObject(env.CONVERSATIONS.getByName(id), async (instance: ConversationDO) => {
      const { store, delivery } = partsOf(instance);
      const author = { userId: alice.user.id, deviceId: alice.deviceId };
      store.transaction(() => {
        for (let i = 0; i < count; i++) eventLog.append(store, { type: 'message', ts: Date.now(), author, cmid: `backlog-${i}`, content: { type: 'text', text: `backlog ${i}` } });
      });
      await delivery.kick();
    });
    await bobInbox.until(() => bobInbox.seqs(id).length === count, 'every message of the backlog');
    expect(bobInbox.seqs(id)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    const sizes = bobInbox.frames.flatMap((f) => (f.type === 'deliver' ? [f.events.filter((e) => e.kind === 'event' && e.conversationId === id).length] : [])).filter((n) => n > 0);
    // Passes of up to 250 (history pages stop at 100: a pass is not a page).
    expect(sizes).toEqual([FANOUT_LIMITS.batchEvents, FANOUT_LIMITS.batchEvents, count - 2 * FANOUT_LIMITS.batchEvents]);
    bobInbox.close();
  });
});

describe('fan-out on read above the threshold', () => {
  it('writes per message do not grow with members, inboxes get coalesced hints, unread counts stay right', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const silentIds = await silentUsers(FANOUT.maxMembersOnWrite + 20);
    const big = await createGroup(alice, [bob, ...silentIds.map((id) => ({ user: { id } }) as Session)], 'big');
    const small = await createGroup(alice, [bob], 'small');
    const bobInbox = await openInbox(bob);
    const [bigWindow, smallWindow] = [await openWindow(alice, big), await openWindow(alice, small)];

    const perMessage: Record<string, number> = {};
    for (const [name, id, window] of [['big', big, bigWindow], ['small', small, smallWindow]] as const) {
      await sendBurst(window, 5, `warm-${name}`);
      perMessage[name] = (await rowsWrittenDuring(id, () => sendBurst(window, 40, name))) / 40;
      expect(await bookkeeping(id)).toEqual({ outbox: 0, lag: 0, state: 1 });
    }
    console.log(`rows written per message: ${JSON.stringify(perMessage)}`);
    // Both are a handful of rows per message (event, cmid index, watermark), not one per member.
    expect(perMessage.big).toBeLessThanOrEqual(perMessage.small! + 0.5);
    expect(perMessage.big).toBeLessThan(5);

    // The big group's members got no events, at most a few coalesced hints.
    expect(bobInbox.seqs(big)).toEqual([]);
    await bobInbox.until(() => bobInbox.seqs(small).length === 45, 'small group events');
    await expect
      .poll(async () => (await list(bob)).find((r) => r.id === big), { timeout: 10_000 })
      .toMatchObject({ lastSeq: 45, unreadCount: 45, preview: { seq: 45, authorId: alice.user.id } });
    const hints = bobInbox.frames.filter((f) => f.type === 'activity' && f.conversationId === big);
    expect(hints.length).toBeGreaterThanOrEqual(1);
    expect(hints.length).toBeLessThanOrEqual(4);

    await env.USERS.getByName(bob.user.id).apply([{ type: 'read', conversationId: big, seq: 40, ts: Date.now() }]);
    expect((await list(bob)).find((r) => r.id === big)).toMatchObject({ unreadCount: 5, readSeq: 40 });
    await send(bob, big, 'bob writes');
    expect((await list(bob)).find((r) => r.id === big)).toMatchObject({ unreadCount: 0 });
    // A silent member's UserDO holds no per-message rows or unread seqs (hints only).
    const silentRows = await runInDurableObject(env.USERS.getByName(silentIds[0]!), (_i, state) => ({
      queue: state.storage.sql.exec('SELECT count(*) AS n FROM queue').one().n,
      unread: state.storage.sql.exec("SELECT count(*) AS n FROM conversations WHERE unread != '[]'").one().n,
    }));
    expect(silentRows).toEqual({ queue: 0, unread: 0 });
    bobInbox.close();
    bigWindow.close();
    smallWindow.close();
  });
});

describe('fan-out tuning', () => {
  it('production defaults unless a deployment sets its own; bad values keep the default', () => {
    expect(fanoutTuning({})).toEqual(FANOUT);
    expect(FANOUT.settleMs).toBe(0);
    expect(FANOUT.hintBatch).toBe(1_000);
    expect(FANOUT.watchingIntervalMs).toBe(1_000);
    expect(fanoutTuning({ FANOUT_SETTLE_MS: '5', FANOUT_MIN_PASS_INTERVAL_MS: '50', FANOUT_HINT_BATCH: '10', FANOUT_WATCHING_INTERVAL_MS: '0' })).toMatchObject({
      settleMs: 5,
      minPassIntervalMs: 50,
      hintBatch: 10,
      watchingIntervalMs: 0,
    });
    expect(fanoutTuning({ FANOUT_SETTLE_MS: '-1', FANOUT_ON_WRITE_MAX_MEMBERS: '0', FANOUT_MIN_PASS_INTERVAL_MS: 'soon', FANOUT_HINT_BATCH: '0' })).toEqual(FANOUT);
  });
});

describe('fan-out pass spacing', () => {
  it('back-to-back passes at least FANOUT.minPassIntervalMs apart, and 2 ms per member the last one called in bigger conversations', () => {
    // A direct conversation at 100 msg/s: a pass every 100 ms carries ~10 messages, one call per member.
    expect(passIntervalMs(2)).toBe(FANOUT.minPassIntervalMs);
    expect(passIntervalMs(FANOUT.maxMembersOnWrite)).toBe(FANOUT.maxMembersOnWrite * FANOUT.passIntervalPerMemberMs);
    for (const members of [2, 10, 50, 99]) {
      expect(passIntervalMs(members)).toBeGreaterThanOrEqual(members * FANOUT.passIntervalPerMemberMs);
      expect(passIntervalMs(members)).toBeGreaterThanOrEqual(FANOUT.minPassIntervalMs);
    }
  });
});
