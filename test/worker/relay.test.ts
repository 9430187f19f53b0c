/**
 * Relays (src/relay/RelayDO.ts, src/conversation/relays.ts): a conversation of at least
 * RELAY_MIN_MEMBERS members puts its chat-window sockets on relays, each holding at most
 * RELAY_MAX_SOCKETS (2 in the tests, vitest.config.ts, so a few sockets span several
 * relays). Admission only with the conversation's say-so; removals and sign-outs close
 * relay sockets too; every socket gets every event once, in order, across relay and
 * conversation evictions and a batch the relays never got.
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { call, createGroup, json, openWindow, partsOf, quietPeriod, registerUser, ticket, upgrade, type TestSocket } from './helpers.js';
import { secondDevice, silentUsers, range } from './inbox-helpers.js';
import { cmid, text } from './lifecycle-helpers.js';
import { service } from './abuse-helpers.js';
import { RELAY, RELAY_DEFAULTS, relayName, relayTuning, type RelayStub } from '../../src/conversation/relays.js';
import type { ConversationDO } from '../../src/conversation/ConversationDO.js';
import * as eventLog from '../../src/conversation/log.js';
import * as members from '../../src/conversation/members.js';
import { CLOSE_CODES, type Session } from '../../src/protocol/index.js';

const MAX_SOCKETS = relayTuning(env).maxSockets;

/** A group of `members` (real users) and enough silent ones to put its windows on relays. */
async function channel(owner: Session, members: Session[]): Promise<string> {
  const silent = await silentUsers(RELAY_DEFAULTS.minMembers);
  return createGroup(owner, [...members, ...silent.map((id) => ({ user: { id } }) as Session)], 'channel');
}

const send = (from: Session, id: string, words: string) =>
  json(`/v1/conversations/${id}/messages`, { token: from.accessToken, body: { cmid: cmid(), content: text(words) } }, 201);

/** Sockets each relay of the conversation holds (index → count), and the windows the conversation holds itself. */
async function placement(id: string, relays: number): Promise<{ relays: number[]; own: number }> {
  const counts = await Promise.all(
    Array.from({ length: relays }, (_, i) => runInDurableObject(env.RELAYS.getByName(relayName(id, i)), (_o, state) => state.getWebSockets().length)),
  );
  const own = await runInDurableObject(env.CONVERSATIONS.getByName(id), (_o, state) => state.getWebSockets().length);
  return { relays: counts, own };
}

const seqsOf = (socket: TestSocket) => socket.events().map((e) => e.seq);
const readyOf = async (socket: TestSocket) => (await socket.next('ready')).lastSeq;

describe('relay admission', () => {
  it('a large conversation puts its windows on relays, at most RELAY_MAX_SOCKETS each, and the conversation holds none', async () => {
    expect(MAX_SOCKETS).toBe(2);
    const alice = await service(await registerUser('alice'));
    const bob = await registerUser('bob');
    const id = await channel(alice, [bob]);
    const sockets = [await openWindow(alice, id), await openWindow(bob, id), await openWindow(bob, id), await openWindow(alice, id), await openWindow(bob, id)];
    const where = await placement(id, 3);
    expect(where.own).toBe(0);
    expect(where.relays.reduce((a, b) => a + b, 0)).toBe(5);
    expect(Math.max(...where.relays)).toBeLessThanOrEqual(MAX_SOCKETS);
    const ready = await sockets[1]!.next('ready');
    expect(ready).toMatchObject({ conversationId: id, userId: bob.user.id, deviceId: bob.deviceId, lastSeq: 0 });
    for (const s of sockets) s.close();
  });

  it('refuses a non-member and a signed-out device, as a window would', async () => {
    const [alice, bob, mallory] = [await registerUser('alice'), await registerUser('bob'), await registerUser('mallory')];
    const id = await channel(alice, [bob]);
    const outsider = await upgrade(`/v1/conversations/${id}/ws?ticket=${await ticket(mallory)}`);
    expect(await outsider.waitClosed()).toMatchObject({ code: CLOSE_CODES.forbidden });
    expect(outsider.frames[0]).toMatchObject({ type: 'error', code: 'conversation_not_found' });

    // Signed out between the ticket and the relay's question to the conversation.
    const phone = await secondDevice(bob, 'phone');
    const phoneTicket = await ticket(phone);
    await env.CONVERSATIONS.getByName(id).closeDevice(bob.user.id, phone.deviceId);
    const revoked = await upgrade(`/v1/conversations/${id}/ws?ticket=${phoneTicket}`);
    expect(await revoked.waitClosed()).toMatchObject({ code: CLOSE_CODES.deviceRevoked });
  });

  it('a socket on a relay sends as a window does: acks, history, errors with the rid', async () => {
    const alice = await service(await registerUser('alice'));
    const id = await channel(alice, []);
    const window = await openWindow(alice, id);
    const sent = cmid();
    window.send({ type: 'send', rid: 'r1', cmid: sent, content: text('through the relay') });
    expect(await window.next('ack')).toMatchObject({ rid: 'r1', cmid: sent, seq: 1 });
    await window.until(() => seqsOf(window).length === 1, 'its own message');
    window.send({ type: 'history', rid: 'r2', after: 0 });
    expect((await window.next('history')).events.map((e) => e.seq)).toEqual([1]);
    window.send({ type: 'edit', rid: 'r3', targetSeq: 99, content: text('nothing there') });
    expect(await window.next('error')).toMatchObject({ rid: 'r3', code: 'not_found' });
    window.close();
  });
});

describe('relay delivery', () => {
  it('a burst reaches every socket on every relay once, in seq order', async () => {
    const alice = await service(await registerUser('alice'));
    const bob = await registerUser('bob');
    const id = await channel(alice, [bob]);
    const readers = [await openWindow(bob, id), await openWindow(bob, id), await openWindow(bob, id), await openWindow(bob, id)];
    const poster = await openWindow(alice, id);
    const count = 60;
    for (let n = 0; n < count; n++) poster.send({ type: 'send', cmid: cmid(), content: text(`burst ${n}`) });
    await poster.until((f) => f.filter((x) => x.type === 'ack').length === count, 'all acks', 20_000);
    for (const r of [...readers, poster]) {
      await r.until(() => seqsOf(r).length >= count, 'all events', 20_000);
      expect(seqsOf(r)).toEqual(range(1, count));
    }
    expect((await placement(id, 3)).relays.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    for (const s of [...readers, poster]) s.close();
  });

  it('the conversation makes one call per relay per batch, whatever the sockets on it', async () => {
    const alice = await service(await registerUser('alice'));
    const bob = await registerUser('bob');
    const id = await channel(alice, [bob]);
    const readers = await Promise.all(Array.from({ length: 6 }, () => openWindow(bob, id)));
    // Every call the conversation makes to a relay, seen from inside it.
    const calls: { relay: number; seqs: number[] }[] = [];
    await runInDurableObject(env.CONVERSATIONS.getByName(id), (instance: ConversationDO) => {
      const relays = partsOf(instance).relays as unknown as { stubOf: (i: number) => RelayStub };
      const original = relays.stubOf;
      relays.stubOf = (relay) => {
        const stub = original(relay);
        return {
          deliver: (batch) => {
            calls.push({ relay, seqs: batch.events.map((e) => e.seq) });
            return stub.deliver(batch);
          },
          closeUser: (userId) => stub.closeUser(userId),
          closeDevice: (userId, deviceId) => stub.closeDevice(userId, deviceId),
          sync: (upTo) => stub.sync(upTo),
        };
      };
    });
    const count = 30;
    await Promise.all(Array.from({ length: count }, (_, n) => send(alice, id, `post ${n}`)));
    for (const r of readers) await r.until(() => seqsOf(r).length === count, 'every post');
    const relaysUsed = new Set(calls.map((c) => c.relay));
    expect(relaysUsed.size).toBe(3);
    // Each seq went to each relay in exactly one call, not once per socket.
    for (const relay of relaysUsed) expect(calls.filter((c) => c.relay === relay).flatMap((c) => c.seqs)).toEqual(range(1, count));
    expect(calls.length).toBeLessThanOrEqual(relaysUsed.size * count);
    console.log(`${count} posts, ${readers.length} sockets on ${relaysUsed.size} relays: ${calls.length} calls from the conversation`);
    for (const r of readers) r.close();
  });

  it('behind a relay that does not answer, at most a page of events waits in the conversation; the rest is fetched by seq', async () => {
    const alice = await service(await registerUser('alice'));
    const bob = await registerUser('bob');
    const id = await channel(alice, [bob]);
    const reader = await openWindow(bob, id);
    const calls: number[][] = [];
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The first call to the relay hangs until released; every call is recorded.
    await runInDurableObject(env.CONVERSATIONS.getByName(id), (instance: ConversationDO) => {
      const relays = partsOf(instance).relays as unknown as { stubOf: (i: number) => RelayStub };
      const original = relays.stubOf;
      relays.stubOf = (relay) => {
        const stub = original(relay);
        return {
          deliver: async (batch) => {
            calls.push(batch.events.map((e) => e.seq));
            if (calls.length === 1) await held;
            return stub.deliver(batch);
          },
          closeUser: (userId) => stub.closeUser(userId),
          closeDevice: (userId, deviceId) => stub.closeDevice(userId, deviceId),
          sync: (upTo) => stub.sync(upTo),
        };
      };
    });
    const count = 300;
    for (let n = 0; n < count; n += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => send(alice, id, `post ${n + k}`)));
    release();
    await reader.until(() => seqsOf(reader).length >= count, 'every post', 20_000);
    expect(seqsOf(reader)).toEqual(range(1, count));
    // The held call, then one carrying less than a page: what waited beyond that was
    // dropped for the seq it reached, and the relay fetched it from the log.
    expect(calls.length).toBe(2);
    expect(calls[1]!.length).toBeLessThanOrEqual(RELAY.pageEvents);
    expect(calls.flat().length).toBeLessThan(count);
    reader.close();
  });

  it('after relays and the conversation are evicted, the hibernated sockets get what follows, in order', async () => {
    const alice = await service(await registerUser('alice'));
    const bob = await registerUser('bob');
    const id = await channel(alice, [bob]);
    const readers = [await openWindow(bob, id), await openWindow(bob, id), await openWindow(bob, id)];
    await send(alice, id, 'before');
    for (const r of readers) await r.until(() => seqsOf(r).length === 1, 'the first message');
    for (let i = 0; i < 2; i++) await evictDurableObject(env.RELAYS.getByName(relayName(id, i)));
    await evictDurableObject(env.CONVERSATIONS.getByName(id));
    for (let n = 0; n < 5; n++) await send(alice, id, `after ${n}`);
    for (const r of readers) {
      await r.until(() => seqsOf(r).length >= 6, 'the messages after the eviction');
      expect(seqsOf(r)).toEqual(range(1, 6));
      expect(r.closed).toBeNull();
    }
    for (const s of readers) s.close();
  });

  it('a relay that missed a batch catches up from the conversation by seq, not skipping', async () => {
    const alice = await service(await registerUser('alice'));
    const bob = await registerUser('bob');
    const id = await channel(alice, [bob]);
    const readers = [await openWindow(bob, id), await openWindow(bob, id), await openWindow(bob, id)];
    await send(alice, id, 'first');
    for (const r of readers) await r.until(() => seqsOf(r).length === 1, 'the first message');
    // Three messages stored but never sent to the relays: as if the conversation was
    // evicted with them still in its batcher.
    await runInDurableObject(env.CONVERSATIONS.getByName(id), (instance: ConversationDO) => {
      const { store } = partsOf(instance);
      for (let n = 0; n < 3; n++) eventLog.append(store, { type: 'message', ts: Date.now(), author: { userId: alice.user.id, deviceId: alice.deviceId }, cmid: cmid(), content: text(`lost ${n}`) });
    });
    await send(alice, id, 'next');
    for (const r of readers) {
      await r.until(() => seqsOf(r).length >= 5, 'the missed messages and the next');
      expect(seqsOf(r)).toEqual(range(1, 5));
    }
    expect(readers[0]!.events().map((e) => (e.type === 'message' && e.content?.type === 'text' ? e.content.text : null))).toEqual(['first', 'lost 0', 'lost 1', 'lost 2', 'next']);
    for (const s of readers) s.close();
  });
  it('a batch that died with the conversation reaches the relays when it wakes, with no message after it', async () => {
    const alice = await service(await registerUser('alice'));
    const bob = await registerUser('bob');
    const id = await channel(alice, [bob]);
    const readers = [await openWindow(bob, id), await openWindow(bob, id), await openWindow(bob, id)];
    await send(alice, id, 'first');
    for (const r of readers) await r.until(() => seqsOf(r).length === 1, 'the first message');
    const conversation = env.CONVERSATIONS.getByName(id);
    await runInDurableObject(conversation, (instance: ConversationDO) => {
      const { store } = partsOf(instance);
      eventLog.append(store, { type: 'message', ts: Date.now(), author: { userId: alice.user.id, deviceId: alice.deviceId }, cmid: cmid(), content: text('in the batcher') });
    });
    await evictDurableObject(conversation);
    await json(`/v1/conversations/${id}`, { token: alice.accessToken }, 200); // wakes it, sends nothing
    for (const r of readers) {
      await r.until(() => seqsOf(r).length >= 2, 'the message the lost batch held');
      expect(seqsOf(r)).toEqual([1, 2]);
    }
    for (const s of readers) s.close();
  });
});

describe('relay visibility', () => {
  it('a reader who blocks the poster gets their messages hidden on a relay, live and when the relay catches up', async () => {
    const alice = await service(await registerUser('alice'));
    const [bob, carol] = [await registerUser('bob'), await registerUser('carol')];
    const id = await channel(alice, [bob, carol]);
    expect((await call(`/v1/blocks/${alice.user.id}`, { token: carol.accessToken, method: 'PUT' })).status).toBe(204);
    await expect.poll(() => runInDurableObject(env.CONVERSATIONS.getByName(id), (_o, state) => state.storage.sql.exec('SELECT count(*) AS n FROM blocks').one().n), { timeout: 5_000 }).toBe(1);
    const [bobs, carols] = [await openWindow(bob, id), await openWindow(carol, id)];
    await send(alice, id, 'live');
    // One the relays never got in a batch: they fetch it, rendered the same way.
    await runInDurableObject(env.CONVERSATIONS.getByName(id), (instance: ConversationDO) => {
      const { store } = partsOf(instance);
      eventLog.append(store, { type: 'message', ts: Date.now(), author: { userId: alice.user.id, deviceId: alice.deviceId }, cmid: cmid(), content: text('caught up') });
    });
    await send(bob, id, 'from bob');
    for (const r of [bobs, carols]) await r.until(() => seqsOf(r).length === 3, 'three messages');
    const textsOf = (r: TestSocket) => r.events().map((e) => (e.type === 'message' ? (e.hidden ? 'hidden' : e.content?.type === 'text' ? e.content.text : null) : null));
    expect(textsOf(bobs)).toEqual(['live', 'caught up', 'from bob']);
    expect(textsOf(carols)).toEqual(['hidden', 'hidden', 'from bob']);
    bobs.close();
    carols.close();
  });
});

describe('relay revocation and removal while the socket is open', () => {
  it('a removed member gets their removal, then the close; nothing after', async () => {
    const alice = await service(await registerUser('alice'));
    const [bob, carol] = [await registerUser('bob'), await registerUser('carol')];
    const id = await channel(alice, [bob, carol]);
    const bobs = [await openWindow(bob, id), await openWindow(bob, id), await openWindow(bob, id)];
    const carols = await openWindow(carol, id);
    await send(alice, id, 'before');
    for (const b of bobs) await b.until(() => seqsOf(b).length === 1, 'the first message');
    await json(`/v1/conversations/${id}/members/${bob.user.id}`, { token: alice.accessToken, method: 'DELETE' }, 204);
    for (const b of bobs) {
      expect(await b.waitClosed()).toMatchObject({ code: CLOSE_CODES.forbidden });
      expect(b.events().at(-1)).toMatchObject({ type: 'member_removed', userId: bob.user.id });
    }
    await send(alice, id, 'after');
    await carols.until(() => seqsOf(carols).length === 3, 'the message after the removal');
    await quietPeriod(200); // the closed sockets must not carry it
    for (const b of bobs) expect(seqsOf(b)).toEqual([1, 2]);
    carols.close();
  });

  it('a signed-out device stops receiving on every relay at once; the user\'s other device goes on', async () => {
    const alice = await service(await registerUser('alice'));
    const bob = await registerUser('bob');
    const phone = await secondDevice(bob, 'phone');
    const id = await channel(alice, [bob]);
    const phones = [await openWindow(phone, id), await openWindow(phone, id), await openWindow(phone, id)];
    const laptop = await openWindow(bob, id);
    await send(alice, id, 'before');
    for (const p of [...phones, laptop]) await p.until(() => seqsOf(p).length === 1, 'the first message');
    await json(`/v1/devices/${phone.deviceId}`, { token: bob.accessToken, method: 'DELETE' }, 204);
    for (const p of phones) expect(await p.waitClosed()).toMatchObject({ code: CLOSE_CODES.deviceRevoked });
    await send(alice, id, 'after');
    await laptop.until(() => seqsOf(laptop).length === 2, 'the message after the sign-out');
    await quietPeriod(200); // the closed sockets must not carry it
    for (const p of phones) expect(seqsOf(p)).toEqual([1]);
    laptop.close();
  });

  it('when calls to the relays failed, the alarm brings them up to date: the events, and the sign-out and removal they never heard of', async () => {
    const alice = await service(await registerUser('alice'));
    const [bob, carol] = [await registerUser('bob'), await registerUser('carol')];
    const phone = await secondDevice(bob, 'phone');
    const id = await channel(alice, [bob, carol]);
    const phones = [await openWindow(phone, id), await openWindow(phone, id)];
    const laptop = await openWindow(bob, id);
    const carols = await openWindow(carol, id);
    await send(alice, id, 'before');
    for (const p of [...phones, laptop, carols]) await p.until(() => seqsOf(p).length === 1, 'the first message');
    // As if the calls carrying two messages, the phone's sign-out and carol's removal had
    // failed: the conversation knows, the relays do not, and each relay is due a retry.
    const conversation = env.CONVERSATIONS.getByName(id);
    await runInDurableObject(conversation, async (instance: ConversationDO, state) => {
      const { store, standings, delivery } = partsOf(instance);
      // The first message's drain ends by setting the alarm from what is due; under load it
      // may still run here, and would move the alarm this test sets below.
      await delivery.kick();
      for (let n = 0; n < 2; n++) eventLog.append(store, { type: 'message', ts: Date.now(), author: { userId: alice.user.id, deviceId: alice.deviceId }, cmid: cmid(), content: text(`unsent ${n}`) });
      standings.revoke(bob.user.id, phone.deviceId);
      members.deleteMember(store, carol.user.id);
      state.storage.sql.exec('UPDATE relays SET attempts = 1, retry_at = ?', Date.now() - 1);
      store.reset();
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(conversation)).toBe(true);
    await laptop.until(() => seqsOf(laptop).length === 3, 'the two messages no batch carried');
    expect(seqsOf(laptop)).toEqual([1, 2, 3]);
    for (const p of phones) {
      expect(await p.waitClosed()).toMatchObject({ code: CLOSE_CODES.deviceRevoked });
      expect(seqsOf(p)).toEqual([1]);
    }
    expect(await carols.waitClosed()).toMatchObject({ code: CLOSE_CODES.forbidden });
    expect(seqsOf(carols)).toEqual([1]);
    const due = await runInDurableObject(conversation, (_i, state) => state.storage.sql.exec('SELECT count(*) AS n FROM relays WHERE retry_at IS NOT NULL').one().n);
    expect(due).toBe(0);
    laptop.close();
  });
});
