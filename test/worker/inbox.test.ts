import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { createGroup, json, openWindow, registerUser } from './helpers.js';
import { expectInOrderOnce, openInbox, range, secondDevice, sendBurst, text } from './inbox-helpers.js';
import { serviceUser } from './abuse-helpers.js';
import { unwrap } from '../../src/errors.js';

describe('inbox sockets and fan-out on write', () => {
  it('both devices of a user receive every message of a group, in order, once', async () => {
    const [alice, bob, carol] = [await serviceUser('alice'), await serviceUser('bob'), await serviceUser('carol')];
    const alice2 = await secondDevice(alice);
    const id = await createGroup(alice, [bob, carol]);
    const [d1, d2] = [await openInbox(alice), await openInbox(alice2)];
    const bw = await openWindow(bob, id);
    const acks = await sendBurst(bw, 30, 'bob');
    expect(acks.sort((a, b) => a - b)).toEqual(range(1, 30));
    for (const d of [d1, d2]) {
      await d.until(() => d.seqs(id).length >= 30, '30 events');
      expectInOrderOnce(d.seqs(id), range(1, 30));
    }
    d1.close();
    d2.close();
    bw.close();
  });
});

describe('offline queues', () => {
  it('a device offline for 500 messages gets all of them in order exactly once on reconnect; the other never a duplicate', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const alice2 = await secondDevice(alice);
    const id = await createGroup(bob, [alice]);
    const [d1, d2] = [await openInbox(alice), await openInbox(alice2)];
    const bw = await openWindow(bob, id);
    await sendBurst(bw, 5, 'before');
    await d2.until(() => d2.seqs(id).length === 5, 'five events');
    // The ack and the close travel on the same socket, so the ack is applied first.
    d2.ack(d2.lastCursor());
    d2.close();

    await sendBurst(bw, 500, 'offline');
    await d1.until(() => d1.seqs(id).length >= 505, '505 events on the online device', 60_000);

    const back = await openInbox(alice2);
    await back.until(() => back.seqs(id).length >= 500, 'the backlog');
    expectInOrderOnce(back.seqs(id), range(6, 505));
    // Backlog before caught_up, and cursors strictly increase.
    const caughtUp = back.frames.findIndex((f) => f.type === 'caught_up');
    const lastDeliver = back.frames.map((f) => f.type).lastIndexOf('deliver');
    expect(lastDeliver).toBeLessThan(caughtUp);
    const cursors = back.events().map((e) => e.cursor);
    expect(cursors).toEqual([...cursors].sort((a, b) => a - b));

    await sendBurst(bw, 3, 'after');
    await back.until(() => back.seqs(id).length === 503, 'live events after the backlog');
    expectInOrderOnce(back.seqs(id), range(6, 508));
    await d1.until(() => d1.seqs(id).length >= 508, '508 events');
    expectInOrderOnce(d1.seqs(id), range(1, 508));
    for (const s of [d1, back]) s.close();
    bw.close();
  });

  it('a newer socket of the same device replaces the older with 4009', async () => {
    const alice = await serviceUser('alice');
    const first = await openInbox(alice);
    const second = await openInbox(alice);
    expect((await first.socket.waitClosed()).code).toBe(4009);
    expect(second.socket.closed).toBeNull();
    second.close();
  });
});

describe('eviction', () => {
  it('evicting the ConversationDO mid fan-out loses nothing and duplicates nothing', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const id = await createGroup(bob, [alice]);
    const inbox = await openInbox(alice);
    const bw = await openWindow(bob, id);
    const stub = env.CONVERSATIONS.getByName(id);
    await sendBurst(bw, 10, 'first');
    // The alarm is armed by the send itself, so an eviction right after it cannot strand the
    // fan-out: either the alarm is still set, or the fan-out has already finished.
    const armed = await runInDurableObject(stub, async (_i, state) => ({
      alarm: await state.storage.getAlarm(),
      done: state.storage.sql.exec<{ done_seq: number }>('SELECT done_seq FROM fanout_state').one().done_seq,
    }));
    if (armed.alarm === null) expect(armed.done).toBe(10);
    await evictDurableObject(stub);
    await runDurableObjectAlarm(stub);
    await inbox.until(() => inbox.seqs(id).length >= 10, 'ten events');

    // As if evicted after the UserDO applied 6..10 but before the watermark moved, and
    // with 11..15 stored but not yet fanned out at all.
    await runInDurableObject(stub, async (_i, state) => {
      const sql = state.storage.sql;
      sql.exec('UPDATE fanout_state SET done_seq = 5');
      for (let seq = 11; seq <= 15; seq++) {
        sql.exec(
          "INSERT INTO events (seq, type, ts, author_user, author_device, cmid, body) VALUES (?, 'message', ?, ?, ?, ?, ?)",
          seq, Date.now(), bob.user.id, bob.deviceId, `stored-${seq}-${crypto.randomUUID().slice(0, 8)}`,
          JSON.stringify({ cmid: `stored-${seq}`, content: { type: 'text', text: `stored ${seq}` } }),
        );
      }
      // Far enough ahead that only runDurableObjectAlarm below runs it.
      await state.storage.setAlarm(Date.now() + 3_600_000);
    });
    await evictDurableObject(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await inbox.until(() => inbox.seqs(id).length >= 15, 'fifteen events');
    await sendBurst(bw, 2, 'after');
    await inbox.until(() => inbox.seqs(id).length >= 17, 'seventeen events');
    expectInOrderOnce(inbox.seqs(id), range(1, 17));
    // The watermark moves once every member's call has returned, in memory; it is stored
    // with the next write, or by the alarm the pass was armed with (fired here, unless it has).
    const left = () =>
      runInDurableObject(stub, (_i, state) => ({
        done: state.storage.sql.exec('SELECT done_seq FROM fanout_state').one().done_seq,
        lag: state.storage.sql.exec('SELECT count(*) AS n FROM fanout_lag').one().n,
      }));
    await expect.poll(async () => (await left()).lag, { timeout: 5_000 }).toBe(0);
    // Bob, watching in his window, gets the last burst up to FANOUT.watchingIntervalMs later:
    // the watermark stored waits for him.
    await expect
      .poll(
        async () => {
          await runDurableObjectAlarm(stub);
          return left();
        },
        { timeout: 5_000, interval: 250 },
      )
      .toEqual({ done: 17, lag: 0 });
    inbox.close();
    bw.close();
  });

  it('evicting the UserDO in the middle of a queue drain loses nothing and duplicates nothing', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const id = await createGroup(bob, [alice]);
    const user = env.USERS.getByName(alice.user.id);
    const device = alice.deviceId;
    unwrap(await user.readEvents(device, 0)); // the device becomes known, so its queue starts now
    const bw = await openWindow(bob, id);
    await sendBurst(bw, 250, 'queued');
    const got: number[] = [];
    const deadline = Date.now() + 30_000;
    let cursor = 0;
    for (let round = 0; got.length < 250 && Date.now() < deadline; round++) {
      const page = unwrap(await user.readEvents(device, cursor, 60));
      for (const e of page.events) if (e.kind === 'event') got.push(e.event.seq);
      const last = page.events.at(-1);
      if (last) {
        cursor = last.cursor;
        unwrap(await user.ackEvents(device, cursor));
      }
      // Evicted between pages, and once between reading a page and acknowledging it.
      if (round === 1) await evictDurableObject(user);
      if (round === 2) {
        const unacked = unwrap(await user.readEvents(device, cursor, 10));
        await evictDurableObject(user);
        const again = unwrap(await user.readEvents(device, cursor, 10));
        expect(again.events).toEqual(unacked.events);
      }
    }
    expectInOrderOnce(got, range(1, 250));
    const queued = await runInDurableObject(user, (_i, state) => state.storage.sql.exec('SELECT count(*) AS n FROM queue').one().n);
    expect(queued).toBe(0);

    // The socket path after another eviction: nothing already acknowledged comes back.
    await evictDurableObject(user);
    await sendBurst(bw, 3, 'later');
    const inbox = await openInbox(alice);
    // Part may come as backlog, part live (fan-out runs after the acks); once and in order either way.
    await inbox.until(() => inbox.seqs(id).length >= 3, 'three events');
    expectInOrderOnce(inbox.seqs(id), [251, 252, 253]);
    inbox.close();
    bw.close();
  });
});

describe('the device event stream API (for SSE and long polling)', () => {
  it('waitForEvents answers at once when events wait, else when one arrives, else empty at its timeout', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const id = await createGroup(bob, [alice]);
    const user = env.USERS.getByName(alice.user.id);
    unwrap(await user.readEvents(alice.deviceId, 0));
    const started = Date.now();
    const empty = unwrap(await user.waitForEvents(alice.deviceId, 0, 300));
    expect(empty.events).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);

    const waiting = user.waitForEvents(alice.deviceId, 0, 10_000);
    await json(`/v1/conversations/${id}/messages`, { token: bob.accessToken, body: { cmid: crypto.randomUUID(), content: text('wake up') } }, 201);
    const woke = unwrap(await waiting);
    expect(woke.events).toEqual([expect.objectContaining({ kind: 'event', conversationId: id, event: expect.objectContaining({ seq: 1 }) })]);
    const cursor = woke.events[0]!.cursor;
    const t0 = Date.now();
    expect(unwrap(await user.waitForEvents(alice.deviceId, 0, 10_000)).events).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(2_000);
    unwrap(await user.ackEvents(alice.deviceId, cursor));
    expect(unwrap(await user.readEvents(alice.deviceId, 0)).events).toEqual([]);
  });

  it('a device away longer than the retention is told so, then continues from what is left', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const id = await createGroup(bob, [alice]);
    const first = await openInbox(alice);
    first.close();
    await first.socket.waitClosed();
    const bw = await openWindow(bob, id);
    await sendBurst(bw, 4, 'old');
    const user = env.USERS.getByName(alice.user.id);
    const queued = () => runInDurableObject(user, (_i, state) => state.storage.sql.exec('SELECT count(*) AS n FROM queue').one().n);
    await expect.poll(queued, { timeout: 10_000 }).toBe(4);
    await runInDurableObject(user, (_i, state) => state.storage.sql.exec('UPDATE queue SET created_at = 0 WHERE seq <= 3'));
    await sendBurst(bw, 2, 'new');

    const back = await openInbox(alice);
    const types = back.frames.map((f) => f.type);
    expect(types.slice(0, 2)).toEqual(['inbox_ready', 'queue_truncated']);
    await back.until(() => back.seqs(id).length >= 3, 'the rest');
    expectInOrderOnce(back.seqs(id), [4, 5, 6]);
    back.close();
    bw.close();
  });
});

describe('signing a device out', () => {
  it('closes its inbox socket and its queue stops holding events back', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const alice2 = await secondDevice(alice);
    const id = await createGroup(bob, [alice]);
    const [d1, d2] = [await openInbox(alice), await openInbox(alice2)];
    d2.close();
    await d2.socket.waitClosed();
    await json(`/v1/conversations/${id}/messages`, { token: bob.accessToken, body: { cmid: crypto.randomUUID(), content: text('hi') } }, 201);
    await d1.until(() => d1.seqs(id).length === 1, 'the message');
    d1.ack(d1.lastCursor());
    const queued = () =>
      runInDurableObject(env.USERS.getByName(alice.user.id), (_i, state) => state.storage.sql.exec('SELECT count(*) AS n FROM queue').one().n);
    await expect.poll(queued, { timeout: 5_000 }).toBe(1); // held for the second device

    const again = await openInbox(alice2);
    await json(`/v1/devices/${alice2.deviceId}`, { token: alice.accessToken, method: 'DELETE' }, 204);
    expect((await again.socket.waitClosed()).code).toBe(4004);
    expect(await queued()).toBe(0);
    d1.close();
  });
});

describe('delivered receipts', () => {
  it('a message counts as delivered once one of the recipient\'s devices acknowledges it', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    const inbox = await openInbox(bob);
    const window = await openWindow(alice, id);
    const [, , third] = await sendBurst(window, 3, 'hello');
    await inbox.until(() => inbox.seqs(id).length >= 3, 'three events');
    const status = async () => (await json(`/v1/conversations/${id}/messages/${third}/receipts`, { token: alice.accessToken }, 200)).status;
    expect(await status()).toBe('sent');

    inbox.ack(inbox.lastCursor());
    await expect.poll(status, { timeout: 10_000, interval: 50 }).toBe('delivered');
    inbox.close();
    window.close();
  });
});

describe('delete for everyone reaches the queues', () => {
  it('a deleted message leaves no text in the recipient\'s queue or conversation list', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    (await openInbox(bob)).close();
    const window = await openWindow(alice, id);
    const [seq] = await sendBurst(window, 1, 'secretplans');
    const user = env.USERS.getByName(bob.user.id);
    const dump = () =>
      runInDurableObject(user, (_i, state) =>
        JSON.stringify(['queue', 'conversations'].map((t) => state.storage.sql.exec(`SELECT * FROM ${t}`).toArray())),
      );
    await expect.poll(dump, { timeout: 10_000, interval: 50, message: "the message reaches bob's queue" }).toContain('secretplans 0');
    await json(`/v1/conversations/${id}/messages/${seq}?scope=everyone`, { token: alice.accessToken, method: 'DELETE' });
    await expect.poll(dump, { timeout: 10_000, interval: 50, message: "the text leaves bob's UserDO" }).not.toContain('secretplans 0');
    const inbox = await openInbox(bob);
    const received = inbox.events().flatMap((e) => (e.kind === 'event' ? [e.event] : []));
    expect(received.map((e) => e.type)).toEqual(['message', 'message_deleted']);
    expect(JSON.stringify(received)).not.toContain('secretplans 0');
    inbox.close();
    window.close();
  });
});
