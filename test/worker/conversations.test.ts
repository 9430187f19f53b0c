import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { createDirect, createGroup, json, openWindow, registerUser } from './helpers.js';
import type { ConversationEvent, Session } from '../../src/protocol/index.js';
import { service } from './abuse-helpers.js';

const text = (t: string) => ({ type: 'text', text: t });
const cmid = () => crypto.randomUUID();

describe('direct conversations', () => {
  it('there is one per pair, whoever starts it', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const one = await createDirect(alice, bob);
    const two = await createDirect(bob, alice);
    expect(two).toBe(one);
    const info = (await json(`/v1/conversations/${one}`, { token: bob.accessToken }, 200)).conversation;
    expect(info.kind).toBe('direct');
    expect(info.members.map((m: any) => m.userId).sort()).toEqual([alice.user.id, bob.user.id].sort());
  });

  it('appears in both members\' conversation lists', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    for (const [me, peer] of [[alice, bob], [bob, alice]] as const) {
      const { conversations } = await json('/v1/conversations', { token: me.accessToken }, 200);
      expect(conversations).toContainEqual(expect.objectContaining({ id, kind: 'direct', peerId: peer.user.id }));
    }
  });

  it('cannot be started with yourself or a user who does not exist', async () => {
    const alice = await registerUser('alice');
    expect((await json('/v1/conversations', { token: alice.accessToken, body: { kind: 'direct', peerId: alice.user.id } }, 400)).code).toBe('invalid_request');
    expect((await json('/v1/conversations', { token: alice.accessToken, body: { kind: 'direct', peerId: 'u_nobody' } }, 404)).code).toBe('user_not_found');
  });
});

describe('sending and history', () => {
  it('acks after storing, broadcasts to open windows and pages history both ways', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const [aw, bw] = [await openWindow(alice, id), await openWindow(bob, id)];

    const sent: string[] = [];
    for (let i = 0; i < 7; i++) {
      const c = cmid();
      sent.push(c);
      aw.send({ type: 'send', rid: `r${i}`, cmid: c, content: text(`hello ${i}`) });
      const ack = await aw.next('ack', (f) => f.cmid === c);
      expect(ack).toMatchObject({ rid: `r${i}`, seq: i + 1, duplicate: false });
    }
    await bw.until((f) => bw.events().length === 7, 'seven events');
    expect(bw.events().map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const first = bw.events()[0]!;
    expect(first).toMatchObject({ type: 'message', author: { userId: alice.user.id, deviceId: alice.deviceId }, content: text('hello 0') });

    const latest = await json(`/v1/conversations/${id}/events?limit=3`, { token: bob.accessToken }, 200);
    expect(latest.events.map((e: ConversationEvent) => e.seq)).toEqual([5, 6, 7]);
    expect(latest.hasMore).toBe(true);
    const back = await json(`/v1/conversations/${id}/events?before=5&limit=3`, { token: bob.accessToken }, 200);
    expect(back.events.map((e: ConversationEvent) => e.seq)).toEqual([2, 3, 4]);
    const gap = await json(`/v1/conversations/${id}/events?after=2&before=6`, { token: bob.accessToken }, 200);
    expect(gap.events.map((e: ConversationEvent) => e.seq)).toEqual([3, 4, 5]);
    expect(gap.hasMore).toBe(false);
    const forward = await json(`/v1/conversations/${id}/events?after=5`, { token: bob.accessToken }, 200);
    expect(forward).toMatchObject({ hasMore: false, lastSeq: 7 });
    expect(forward.events.map((e: ConversationEvent) => e.seq)).toEqual([6, 7]);

    // The same pages over the socket.
    bw.send({ type: 'history', rid: 'h1', after: 0, limit: 2 });
    const page = await bw.next('history', (f) => f.rid === 'h1');
    expect(page.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(page.hasMore).toBe(true);
    aw.close();
    bw.close();
  });

  it('sends over HTTP with the same idempotent acks, seen by open windows', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const bw = await openWindow(bob, id);
    const c = cmid();
    const first = await json(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: c, content: text('over http') } }, 201);
    const again = await json(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: c, content: text('over http') } }, 200);
    expect(first).toMatchObject({ cmid: c, seq: 1, duplicate: false });
    expect(again).toEqual({ ...first, duplicate: true });
    await bw.until(() => bw.events().length === 1, 'the message');
    bw.close();
  });

  it('20 sockets from 10 members, 50 messages each, concurrently: seq is exactly 1..1000', async () => {
    const users: Session[] = [];
    // Service accounts: this is a throughput test, far past a person's message limits.
    for (let i = 0; i < 10; i++) users.push(await service(await registerUser(`m${i}`)));
    const id = await createGroup(users[0]!, users.slice(1));
    const windows = [];
    for (const user of users) windows.push(await openWindow(user, id), await openWindow(user, id));

    const perSocket = 50;
    const sentBy = windows.map((w, i) => {
      const cmids = Array.from({ length: perSocket }, (_, n) => `s${i}-n${n}-${crypto.randomUUID().slice(0, 8)}`);
      return cmids;
    });
    // Fire everything without waiting for acks: all 20 sockets interleave.
    for (let n = 0; n < perSocket; n++) {
      windows.forEach((w, i) => w.send({ type: 'send', cmid: sentBy[i]![n], content: text(`socket ${i} message ${n}`) }));
    }
    const acks = await Promise.all(
      windows.map((w) => w.until((f) => (f.filter((x) => x.type === 'ack').length === perSocket ? f : undefined), 'all acks', 60_000)),
    );
    const seqs = acks.flatMap((frames) => frames.flatMap((f) => (f.type === 'ack' ? [f.seq] : [])));
    expect(seqs.sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));

    // Each socket's own order is preserved: its acks come back in increasing seq.
    windows.forEach((w, i) => {
      const own = w.frames.flatMap((f) => (f.type === 'ack' ? [f] : []));
      expect(own.map((a) => a.cmid)).toEqual(sentBy[i]);
      expect(own.map((a) => a.seq)).toEqual([...own.map((a) => a.seq)].sort((a, b) => a - b));
    });

    // Every window saw all 1000 events in seq order, and history is exactly that.
    await Promise.all(windows.map((w) => w.until(() => w.events().length === 1000, '1000 events', 60_000)));
    const broadcast = windows[0]!.events();
    expect(broadcast.map((e) => e.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    for (const w of windows) expect(w.events()).toEqual(broadcast);
    const history: ConversationEvent[] = [];
    for (let after = 0; ; ) {
      const page = await json(`/v1/conversations/${id}/events?after=${after}&limit=100`, { token: users[3]!.accessToken }, 200);
      history.push(...page.events);
      if (!page.hasMore) break;
      after = page.events.at(-1).seq;
    }
    expect(history).toEqual(broadcast);
    for (const w of windows) w.close();
  }, 120_000);
});

describe('idempotent sends', () => {
  it('the same cmid 5 times, concurrently and after an eviction, stores one event with identical acks', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const [w1, w2] = [await openWindow(alice, id), await openWindow(alice, id)];
    const c = cmid();
    const frame = { type: 'send', cmid: c, content: text('only once') };
    for (let i = 0; i < 3; i++) w1.send(frame);
    for (let i = 0; i < 2; i++) w2.send(frame);
    const httpAck = await json(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: c, content: text('only once') } });
    await w1.until((f) => f.filter((x) => x.type === 'ack').length === 3, 'three acks');
    await w2.until((f) => f.filter((x) => x.type === 'ack').length === 2, 'two acks');
    const acks = [...w1.frames, ...w2.frames].flatMap((f) => (f.type === 'ack' ? [f] : []));
    const strip = ({ cmid, seq, ts }: { cmid: string; seq: number; ts: number }) => ({ cmid, seq, ts });
    const original = strip(acks.find((a) => !a.duplicate)!);
    expect(acks.filter((a) => !a.duplicate)).toHaveLength(1);
    for (const ack of [...acks, httpAck]) expect(strip(ack)).toEqual(original);

    const stub = env.CONVERSATIONS.getByName(id);
    await evictDurableObject(stub);
    const afterEviction = await json(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: c, content: text('only once') } }, 200);
    expect(strip(afterEviction)).toEqual(original);
    const stored = await runInDurableObject(stub, (_i, state) =>
      state.storage.sql.exec('SELECT count(*) AS n FROM events WHERE cmid = ?', c).one().n,
    );
    expect(stored).toBe(1);
    // The same cmid from another sender is a different message.
    const fromBob = await json(`/v1/conversations/${id}/messages`, { token: bob.accessToken, body: { cmid: c, content: text('mine') } }, 201);
    expect(fromBob.seq).toBe(original.seq + 1);
  });
});

describe('eviction and hibernation', () => {
  it('sockets keep working after the object is evicted; seq continues without a gap', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const [aw, bw] = [await openWindow(alice, id), await openWindow(bob, id)];
    for (let i = 0; i < 5; i++) aw.send({ type: 'send', cmid: cmid(), content: text(`before ${i}`) });
    await bw.until(() => bw.events().length === 5, 'five events');

    const stub = env.CONVERSATIONS.getByName(id);
    await evictDurableObject(stub);

    for (let i = 0; i < 5; i++) bw.send({ type: 'send', cmid: cmid(), content: text(`after ${i}`) });
    await aw.until(() => aw.events().length === 10, 'ten events');
    expect(aw.events().map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // The attachment survived: identity is still right after waking.
    expect(aw.events()[7]!.author).toEqual({ userId: bob.user.id, deviceId: bob.deviceId });
    const history = await json(`/v1/conversations/${id}/events?after=0`, { token: alice.accessToken }, 200);
    expect(history.events).toEqual(aw.events());
    aw.close();
    bw.close();
  });
});

describe('membership', () => {
  it('a non-member gets nothing from any route or socket', async () => {
    const [alice, bob, eve] = [await registerUser('alice'), await registerUser('bob'), await registerUser('eve')];
    const id = await createDirect(alice, bob);
    await json(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: cmid(), content: text('secret') } }, 201);
    for (const path of [`/v1/conversations/${id}`, `/v1/conversations/${id}/members`, `/v1/conversations/${id}/events?after=0`]) {
      const res = await json(path, { token: eve.accessToken }, 404);
      expect(res.code).toBe('conversation_not_found');
      expect(JSON.stringify(res)).not.toContain('secret');
    }
    const send = await json(`/v1/conversations/${id}/messages`, { token: eve.accessToken, body: { cmid: cmid(), content: text('hi') } }, 404);
    expect(send.code).toBe('conversation_not_found');
    const socket = await import('./helpers.js').then((h) => h.upgrade(`/v1/conversations/${id}/ws?ticket=${'x'}`));
    expect((await socket.waitClosed()).code).toBe(4001);
    const eveSocket = await import('./helpers.js').then(async (h) => h.upgrade(`/v1/conversations/${id}/ws?ticket=${await h.ticket(eve)}`));
    const closed = await eveSocket.waitClosed();
    expect(closed.code).toBe(4003);
    expect(eveSocket.frames).toEqual([expect.objectContaining({ type: 'error', code: 'conversation_not_found' })]);
    expect((await json(`/v1/conversations/${id}/events?after=0`, { token: alice.accessToken }, 200)).events).toHaveLength(1);
  });

  it('group roles: admins add and remove, members cannot; a removed member stops receiving', async () => {
    const [owner, admin, member, late] = [await registerUser('owner'), await registerUser('admin'), await registerUser('member'), await registerUser('late')];
    const id = await createGroup(owner, [admin, member], 'team');
    await json(`/v1/conversations/${id}/members/${admin.user.id}`, { token: owner.accessToken, method: 'PATCH', body: { role: 'admin' } }, 200);
    expect((await json(`/v1/conversations/${id}/members`, { token: member.accessToken, body: { userId: late.user.id } }, 403)).code).toBe('forbidden');
    await json(`/v1/conversations/${id}/members`, { token: admin.accessToken, body: { userId: late.user.id } }, 201);
    expect((await json(`/v1/conversations/${id}/members/${owner.user.id}`, { token: admin.accessToken, method: 'DELETE' }, 403)).code).toBe('forbidden');

    const memberWindow = await openWindow(member, id);
    const ownerWindow = await openWindow(owner, id);
    await json(`/v1/conversations/${id}/members/${member.user.id}`, { token: admin.accessToken, method: 'DELETE' }, 204);
    const closed = await memberWindow.waitClosed();
    expect(closed.code).toBe(4003);
    await ownerWindow.until(() => ownerWindow.events().some((e) => e.type === 'member_removed'), 'removal event');

    await json(`/v1/conversations/${id}/messages`, { token: owner.accessToken, body: { cmid: cmid(), content: text('after removal') } }, 201);
    expect(memberWindow.events().some((e) => e.type === 'message')).toBe(false);
    expect((await json(`/v1/conversations/${id}/events?after=0`, { token: member.accessToken }, 404)).code).toBe('conversation_not_found');
    const { conversations } = await json('/v1/conversations', { token: member.accessToken }, 200);
    expect(conversations.map((c: any) => c.id)).not.toContain(id);
    const lateList = await json('/v1/conversations', { token: late.accessToken }, 200);
    expect(lateList.conversations.map((c: any) => c.id)).toContain(id);
    ownerWindow.close();
  });

  it('when the owner leaves, the longest-standing admin becomes owner', async () => {
    const [owner, admin, member] = [await registerUser('owner'), await registerUser('admin'), await registerUser('member')];
    const id = await createGroup(owner, [admin, member]);
    await json(`/v1/conversations/${id}/members/${admin.user.id}`, { token: owner.accessToken, method: 'PATCH', body: { role: 'admin' } }, 200);
    await json(`/v1/conversations/${id}/members/${owner.user.id}`, { token: owner.accessToken, method: 'DELETE' }, 204);
    const { members } = await json(`/v1/conversations/${id}/members`, { token: member.accessToken }, 200);
    expect(members).toHaveLength(2);
    expect(members).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ userId: admin.user.id, role: 'owner' }),
        expect.objectContaining({ userId: member.user.id, role: 'member' }),
      ]),
    );
  });
});
