/**
 * Device standing ("is this device signed in, and on which tier") is owned by the user's
 * UserDO, not read from D1 on every request: devices are told to it when they are made,
 * devices it does not know are imported from D1 once, account facts (age, operator trust,
 * reports) are re-read at most once per ACCOUNT_FACTS_REFRESH_MS, and signing a device out
 * is one function that revokes it in D1 and in the UserDO.
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { call, createGroup, json, listedUpTo, registerUser } from './helpers.js';
import { openInbox, secondDevice, text } from './inbox-helpers.js';
import { ACCOUNT_FACTS_REFRESH_MS } from '../../src/user/devices.js';
import { STANDING_CACHE, standingCache } from '../../src/auth/standing.js';
import type { Session } from '../../src/protocol/index.js';

const user = (session: Session) => env.USERS.getByName(session.user.id);

/** The UserDO's own record of a device: null when it does not know it. */
const record = (session: Session, deviceId = session.deviceId) =>
  runInDurableObject(user(session), (_i, state) =>
    state.storage.sql
      .exec<{ created_at: number; revoked_at: number | null }>('SELECT created_at, revoked_at FROM devices WHERE device_id = ?', deviceId)
      .toArray()[0] ?? null,
  );

const revokeInD1Only = (deviceId: string) => env.DB.prepare('UPDATE devices SET revoked_at = ? WHERE id = ?').bind(Date.now(), deviceId).run();

describe('device standing lives in the UserDO', () => {
  it('register and login tell the UserDO of the new device', async () => {
    const alice = await registerUser('alice');
    const phone = await secondDevice(alice, 'phone');
    expect(await record(alice)).toMatchObject({ revoked_at: null });
    expect(await record(alice, phone.deviceId)).toMatchObject({ revoked_at: null });
    expect(await user(alice).standing(phone.deviceId)).toEqual({ active: true, tier: 'new' });
  });

  it('answers from its own storage: a change made behind its back in D1 does not reach it', async () => {
    const alice = await registerUser('alice');
    expect(await user(alice).standing(alice.deviceId)).toEqual({ active: true, tier: 'new' });
    await revokeInD1Only(alice.deviceId);
    expect(await user(alice).standing(alice.deviceId)).toEqual({ active: true, tier: 'new' });
    // So the Worker, once this isolate's cache has let go, asks the UserDO and not D1.
    standingCache.clear();
    await json('/v1/users/me', { token: alice.accessToken }, 200);
  });

  it('imports a device it does not know from D1, once (accounts made before it kept devices)', async () => {
    const alice = await registerUser('alice');
    await runInDurableObject(user(alice), (_i, state) => state.storage.sql.exec('DELETE FROM devices'));
    expect(await record(alice)).toBeNull();
    expect(await user(alice).standing(alice.deviceId)).toEqual({ active: true, tier: 'new' });
    expect(await record(alice)).toMatchObject({ revoked_at: null });
    await revokeInD1Only(alice.deviceId);
    expect((await user(alice).standing(alice.deviceId)).active).toBe(true);

    // A device D1 says is revoked, or does not have, is imported as revoked.
    const phone = await secondDevice(alice, 'phone');
    await runInDurableObject(user(alice), (_i, state) => state.storage.sql.exec('DELETE FROM devices WHERE device_id = ?', phone.deviceId));
    await revokeInD1Only(phone.deviceId);
    expect((await user(alice).standing(phone.deviceId)).active).toBe(false);
    expect((await user(alice).standing('d_never_made')).active).toBe(false);
  });

  it("re-reads the account's facts at most once per ACCOUNT_FACTS_REFRESH_MS, so an operator's trust change lands within it", async () => {
    const alice = await registerUser('alice');
    expect((await user(alice).standing(alice.deviceId)).tier).toBe('new');
    await env.DB.prepare("UPDATE users SET trust = 'service' WHERE id = ?").bind(alice.user.id).run();
    expect((await user(alice).standing(alice.deviceId)).tier).toBe('new');
    // As if the interval had passed since the facts were read.
    await runInDurableObject(user(alice), (_i, state) => state.storage.sql.exec('UPDATE account SET read_at = read_at - ?', ACCOUNT_FACTS_REFRESH_MS));
    expect((await user(alice).standing(alice.deviceId)).tier).toBe('service');
  });

  it('a sign-out whose call to the UserDO was lost is caught at the next re-read of the account, and its wires end', async () => {
    const alice = await registerUser('alice');
    const phone = await secondDevice(alice, 'phone');
    const inbox = await openInbox(phone);
    await revokeInD1Only(phone.deviceId);
    await runInDurableObject(user(alice), (_i, state) => state.storage.sql.exec('UPDATE account SET read_at = read_at - ?', ACCOUNT_FACTS_REFRESH_MS));
    expect((await user(alice).standing(alice.deviceId)).active).toBe(true);
    expect((await user(alice).standing(phone.deviceId)).active).toBe(false);
    expect((await inbox.socket.waitClosed(2_000)).code).toBe(4004);
  });

  it('standing survives an eviction', async () => {
    const alice = await registerUser('alice');
    const phone = await secondDevice(alice, 'phone');
    await user(alice).standing(alice.deviceId);
    await user(alice).forgetDevice(phone.deviceId);
    await evictDurableObject(user(alice));
    // D1 is not asked again (it would say the same; make it say otherwise to be sure).
    await env.DB.prepare('UPDATE devices SET revoked_at = NULL WHERE id = ?').bind(phone.deviceId).run();
    expect(await user(alice).standing(phone.deviceId)).toEqual({ active: false, tier: 'new' });
    expect(await user(alice).standing(alice.deviceId)).toEqual({ active: true, tier: 'new' });
  });

  it('a report reaches the target at once: the third distinct reporter demotes', async () => {
    const target = await registerUser('target');
    await env.DB.prepare('UPDATE users SET created_at = created_at - ? WHERE id = ?').bind(48 * 3_600_000, target.user.id).run();
    expect((await user(target).standing(target.deviceId)).tier).toBe('standard');
    for (let i = 0; i < 3; i++) {
      const reporter = await registerUser(`reporter${i}`);
      await json('/v1/reports', { token: reporter.accessToken, body: { kind: 'user', userId: target.user.id, reason: 'spam' } }, 201);
    }
    expect((await user(target).standing(target.deviceId)).tier).toBe('new');
  });
});

/**
 * Runs `fn` with every D1 statement prepared meanwhile recorded in `queries` (by the
 * Worker and the objects alike: they share this isolate's binding).
 */
async function countingD1(fn: (queries: string[]) => Promise<void>): Promise<void> {
  const db = env.DB as D1Database & { prepare: D1Database['prepare'] };
  const prepare = db.prepare;
  const queries: string[] = [];
  db.prepare = (query: string) => {
    queries.push(query);
    return prepare.call(db, query);
  };
  try {
    await fn(queries);
  } finally {
    db.prepare = prepare;
  }
}

describe('D1 is off the path of authenticated requests', () => {
  it('polls, acks and sends-side checks make no D1 query once the standing is known', async () => {
    const alice = await registerUser('alice');
    await json('/v1/inbox/poll?timeoutMs=0', { token: alice.accessToken }, 200);
    await countingD1(async (queries) => {
      // The counter sees the Worker's queries: a route that reads D1 shows up.
      await json('/v1/users/me', { token: alice.accessToken }, 200);
      expect(queries.length).toBeGreaterThan(0);
      queries.length = 0;
      for (let i = 0; i < 3; i++) await json('/v1/inbox/poll?timeoutMs=0', { token: alice.accessToken }, 200);
      await json('/v1/inbox/ack', { token: alice.accessToken, body: { cursor: 0 } }, 200);
      // Past this isolate's cache too: the UserDO answers from its own storage.
      standingCache.clear();
      await json('/v1/inbox/poll?timeoutMs=0', { token: alice.accessToken }, 200);
      expect(queries).toEqual([]);
    });
  });

  it('an HTTP send and a conversation feed poll make no D1 query once the session is warm, their fan-out included', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    const send = () => json<{ seq: number }>(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: crypto.randomUUID(), content: text('hi') } }, 201);
    const feedPoll = (after: number) => json<{ events: { seq: number }[] }>(`/v1/conversations/${id}/poll?after=${after}&timeoutMs=0`, { token: bob.accessToken }, 200);
    // Warm: both devices' standing known to the Worker and the conversation, and bob's
    // UserDO has checked once whether he subscribed to push (he is offline; it keeps the answer).
    const first = await send();
    await feedPoll(0);
    await listedUpTo(bob, id, first.seq);
    await countingD1(async (queries) => {
      // The counter sees the objects' queries too: a device the UserDO never knew is looked up in D1.
      await user(alice).standing('d_never_made');
      expect(queries.length).toBeGreaterThan(0);
      queries.length = 0;
      let after = first.seq;
      for (const cache of ['warm', 'cleared'] as const) {
        // 'cleared': past this isolate's cache, the UserDO answers from its own storage.
        if (cache === 'cleared') standingCache.clear();
        const { seq } = await send();
        expect((await feedPoll(after)).events.map((e) => e.seq), cache).toContain(seq);
        await listedUpTo(bob, id, seq);
        after = seq;
      }
      expect(queries).toEqual([]);
    });
  });
});

describe('signing a device out is one function', () => {
  it('DELETE /v1/devices/:id, logout and refresh-token reuse each revoke the device in D1 and in the UserDO', async () => {
    const alice = await registerUser('alice');
    const [phone, tablet, laptop] = [await secondDevice(alice, 'phone'), await secondDevice(alice, 'tablet'), await secondDevice(alice, 'laptop')];
    await json(`/v1/devices/${phone.deviceId}`, { token: alice.accessToken, method: 'DELETE' }, 204);
    await json('/v1/auth/logout', { token: tablet.accessToken, method: 'POST' }, 204);
    await json('/v1/auth/refresh', { body: { refreshToken: laptop.refreshToken } }, 200);
    await json('/v1/auth/refresh', { body: { refreshToken: laptop.refreshToken } }, 401);
    for (const device of [phone, tablet, laptop]) {
      expect((await record(alice, device.deviceId))?.revoked_at, device.deviceId).toBeGreaterThan(0);
      expect(await user(alice).standing(device.deviceId)).toEqual({ active: false, tier: 'new' });
      const row = await env.DB.prepare('SELECT revoked_at FROM devices WHERE id = ?').bind(device.deviceId).first<{ revoked_at: number | null }>();
      expect(row?.revoked_at).toBeGreaterThan(0);
    }
    expect((await record(alice))?.revoked_at).toBeNull();
  });

  it("revoking a device evicts it from this isolate's cache at once, and the cache is bounded", async () => {
    const alice = await registerUser('alice');
    const phone = await secondDevice(alice, 'phone');
    await json('/v1/users/me', { token: phone.accessToken }, 200);
    await call(`/v1/devices/${phone.deviceId}`, { token: alice.accessToken, method: 'DELETE' });
    expect((await json('/v1/users/me', { token: phone.accessToken }, 401)).code).toBe('device_revoked');
    expect(STANDING_CACHE.ttlMs).toBeLessThanOrEqual(10_000);
    expect(standingCache.size).toBeLessThanOrEqual(STANDING_CACHE.maxEntries);
  });

  it('a socket upgrade asks the UserDO: a ticket issued before a revocation no longer opens the inbox', async () => {
    const alice = await registerUser('alice');
    const { ticket } = await json('/v1/auth/tickets', { token: alice.accessToken, method: 'POST' }, 201);
    // Revoked where only the UserDO knows it (as if through another isolate, whose cache this one does not share).
    await user(alice).forgetDevice(alice.deviceId);
    const res = await call(`/v1/inbox/ws?ticket=${ticket}`, { headers: { upgrade: 'websocket' } });
    const ws = res.webSocket!;
    const closed = new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
    ws.accept();
    expect(await closed).toBe(4004);
  });
});
