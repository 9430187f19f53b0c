import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { createDirect, json, openWindow, quietPeriod, registerUser, ticket, upgrade, type TestSocket } from './helpers.js';
import { openInbox, secondDevice, sqlCost } from './inbox-helpers.js';
import { PING_FRAME, type Session } from '../../src/protocol/index.js';
import { PRESENCE } from '../../src/limits.js';
import * as presence from '../../src/user/presence.js';

const query = async (asker: Session, ...users: Session[]) =>
  (await json('/v1/presence/query', { token: asker.accessToken, body: { userIds: users.map((u) => u.user.id) } }, 200)).presence;

const presenceFrames = (window: TestSocket, userId: string) =>
  window.frames.flatMap((f) => (f.type === 'presence' && f.userId === userId ? [f] : []));

async function subscriptions(user: Session): Promise<string[]> {
  return runInDurableObject(env.USERS.getByName(user.user.id), (_i, state) =>
    state.storage.sql.exec<{ conversation_id: string }>('SELECT conversation_id FROM presence_subscriptions ORDER BY conversation_id').toArray().map((r) => r.conversation_id),
  );
}

describe('presence', () => {
  it('a device reading its stream over long polling counts as online, and goes offline within the bound after it stops', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    // Presence is shown only to people who share a conversation (presence-privacy.test.ts).
    await createDirect(alice, bob);
    expect((await query(bob, alice))[0].online).toBe(false);
    await json('/v1/inbox/poll?cursor=0&timeoutMs=1', { token: alice.accessToken }, 200);
    expect((await query(bob, alice))[0].online).toBe(true);
    // Between two polls the device is still online.
    const user = env.USERS.getByName(alice.user.id);
    await user.checkHeartbeats(Date.now() + PRESENCE.staleAfterMs - 5_000);
    expect((await query(bob, alice))[0].online).toBe(true);
    // No poll for longer than the bound: offline, with last seen.
    await user.checkHeartbeats(Date.now() + PRESENCE.staleAfterMs + 1_000);
    const [after] = await query(bob, alice);
    expect(after.online).toBe(false);
    expect(after.lastSeenAt).not.toBeNull();
  });

  it('online while any device has an inbox socket, offline with last seen when the last goes; last seen can be hidden', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    await createDirect(alice, bob);
    const alice2 = await secondDevice(alice);
    expect(await query(bob, alice)).toEqual([{ userId: alice.user.id, online: false, lastSeenAt: null }]);
    const [d1, d2] = [await openInbox(alice), await openInbox(alice2)];
    expect(await query(bob, alice)).toEqual([{ userId: alice.user.id, online: true, lastSeenAt: null }]);
    d1.close();
    await d1.socket.waitClosed();
    await quietPeriod(100); // a wrong "offline" after the first close would show by now
    expect((await query(bob, alice))[0].online).toBe(true);
    const beforeLast = Date.now();
    d2.close();
    await expect.poll(async () => (await query(bob, alice))[0].online, { timeout: 5_000 }).toBe(false);
    const [seen] = await query(bob, alice);
    expect(seen.lastSeenAt).toBeGreaterThanOrEqual(beforeLast - 1_000);
    await json('/v1/presence/settings', { token: alice.accessToken, method: 'PUT', body: { hideLastSeen: true } }, 200);
    expect(await query(bob, alice)).toEqual([{ userId: alice.user.id, online: false, lastSeenAt: null }]);
    const tooMany = Array.from({ length: PRESENCE.maxQueryUsers + 1 }, (_, i) => `u_${i}`);
    expect((await json('/v1/presence/query', { token: bob.accessToken, body: { userIds: tooMany } }, 400)).code).toBe('invalid_request');
  });

  it('a half-open socket goes offline within staleAfterMs + checkIntervalMs; a pinging one stays', async () => {
    const alice = await registerUser('alice');
    const alice2 = await secondDevice(alice);
    const stub = env.USERS.getByName(alice.user.id);
    const connectedAt = Date.now();
    const silent = await openInbox(alice);
    const alarm = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(Date.now() + PRESENCE.checkIntervalMs);

    const pinging = await openInbox(alice2);
    // Both connected within a second: without its ping the second would be stale at the check below too.
    expect(Date.now() - connectedAt).toBeLessThan(1_000);
    // A gap on purpose (not a wait for state): the ping must come well after connectedAt.
    await quietPeriod(1_500);
    pinging.socket.send(PING_FRAME);
    await pinging.until(() => pinging.socket.frames.some((f) => (f as { type: string }).type === 'pong'), 'pong');
    // Nothing is stale yet.
    expect(await stub.checkHeartbeats(Date.now())).toBe(0);
    // Just past the silent socket's bound, still within the pinging one's.
    expect(await stub.checkHeartbeats(connectedAt + PRESENCE.staleAfterMs + 1_000)).toBe(1);
    expect((await silent.socket.waitClosed()).code).toBe(1001);
    expect((await stub.presence()).online).toBe(true);
    expect(await stub.checkHeartbeats(Date.now() + PRESENCE.staleAfterMs + 1)).toBe(1);
    expect(await stub.presence()).toMatchObject({ online: false });
    expect((await stub.presence()).lastSeenAt).not.toBeNull();
  });

  it('changes reach only conversations with an open, subscribed window, coalesced', async () => {
    const [alice, bob, carol] = [await registerUser('alice'), await registerUser('bob'), await registerUser('carol')];
    const withBob = await createDirect(alice, bob);
    const withCarol = await createDirect(alice, carol);
    const bobWindow = await openWindow(bob, withBob);
    await expect.poll(() => subscriptions(alice), { timeout: 5_000 }).toEqual([withBob]);

    const inbox = await openInbox(alice);
    await bobWindow.until(() => presenceFrames(bobWindow, alice.user.id).length === 1, 'online relayed');
    expect(presenceFrames(bobWindow, alice.user.id)[0]).toMatchObject({ online: true, lastSeenAt: null });

    // Carol's window subscribes, then the subscription lapses (not renewed): she hears nothing.
    const carolWindow = await openWindow(carol, withCarol);
    await expect.poll(() => subscriptions(alice), { timeout: 5_000 }).toEqual([withBob, withCarol].sort());
    await runInDurableObject(env.USERS.getByName(alice.user.id), (_i, state) =>
      state.storage.sql.exec('UPDATE presence_subscriptions SET expires_at = 1 WHERE conversation_id = ?', withCarol),
    );

    // Flapping: five changes in well under the coalescing window, ending offline.
    const tickets = [await ticket(alice), await ticket(alice)];
    await quietPeriod(PRESENCE.coalesceMs + 100); // a quiet spell: the flapping starts a fresh coalescing window
    const flapStarted = Date.now();
    inbox.close();
    for (const t of tickets) {
      const again = await upgrade(`/v1/inbox/ws?ticket=${t}`);
      await again.until((f) => f.some((x) => (x as { type: string }).type === 'caught_up'), 'caught_up');
      again.close();
      await again.waitClosed();
    }
    expect(Date.now() - flapStarted).toBeLessThan(PRESENCE.coalesceMs);
    await bobWindow.until(() => presenceFrames(bobWindow, alice.user.id).at(-1)?.online === false, 'offline relayed', PRESENCE.coalesceMs + 5_000);
    // Past the coalescing window: the flapping added one relay (its first change), not six,
    // and none at its end because the state is where that relay left it.
    await quietPeriod(PRESENCE.coalesceMs + 500);
    const frames = presenceFrames(bobWindow, alice.user.id);
    expect(frames.map((f) => f.online)).toEqual([true, false]);
    expect(presenceFrames(carolWindow, alice.user.id)).toEqual([]);
    expect(await subscriptions(alice)).toEqual([withBob]);
    bobWindow.close();
    carolWindow.close();
  });

  it('a window reopened after its subscription was dropped subscribes again and hears the next change', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const withBob = await createDirect(alice, bob);
    const first = await openWindow(bob, withBob);
    await expect.poll(() => subscriptions(alice), { timeout: 5_000 }).toEqual([withBob]);
    first.close();
    await first.waitClosed();
    // Alice comes online while no window is open: the relay finds none and she drops the subscription.
    const inbox = await openInbox(alice);
    await expect.poll(() => subscriptions(alice), { timeout: 5_000 }).toEqual([]);
    // Bob opens the chat again well inside the subscription's lifetime: it must subscribe anew.
    const again = await openWindow(bob, withBob);
    await expect.poll(() => subscriptions(alice), { timeout: 5_000 }).toEqual([withBob]);
    await quietPeriod(PRESENCE.coalesceMs + 100); // past the coalescing window: the next change goes at once
    inbox.close();
    await again.until(() => presenceFrames(again, alice.user.id).at(-1)?.online === false, 'offline relayed', 5_000);
    again.close();
  });

  it('a relay that finds no window drops the subscription only if nobody renewed it meanwhile', async () => {
    const alice = await registerUser('alice');
    await runInDurableObject(env.USERS.getByName(alice.user.id), (_i, state) => {
      const sql = state.storage.sql;
      const now = Date.now();
      presence.subscribe(sql, 'c_renewed', now + 1_000);
      presence.subscribe(sql, 'c_closed', now + 1_000);
      const heard = presence.subscribers(sql, now).subscriptions;
      // A window opened on c_renewed while the relay was on its way: renewed to a later expiry.
      presence.subscribe(sql, 'c_renewed', now + 2_000);
      for (const s of heard) presence.unsubscribeIfUnrenewed(sql, s);
      expect(presence.subscribers(sql, now).subscriptions.map((s) => s.conversationId)).toEqual(['c_renewed']);
    });
  });

  it('a presence change costs the same for 10,000 contacts as for 10, with 3 open windows', async () => {
    const partners = [await registerUser('p1'), await registerUser('p2'), await registerUser('p3')];
    const costs: Record<string, { rowsRead: number; rowsWritten: number; subscribers: number; subscriberRows: number }> = {};
    for (const contacts of [10, 10_000]) {
      const user = await registerUser(`c${contacts}`);
      const stub = env.USERS.getByName(user.user.id);
      // Contacts: conversations in the user's inbox (without creating 10,000 objects).
      for (let i = 0; i < contacts; i += 2_000) {
        const n = Math.min(2_000, contacts - i);
        await stub.apply(
          Array.from({ length: n }, (_, k) => ({
            type: 'membership' as const, conversationId: `contact-${i + k}-${user.user.id}`, conversationKind: 'direct' as const,
            title: null, peerId: `u_contact_${i + k}`, role: 'member' as const, seq: 0, ts: Date.now(),
          })),
        );
      }
      const windows: TestSocket[] = [];
      for (const partner of partners) windows.push(await openWindow(partner, await createDirect(user, partner)));
      await expect.poll(async () => (await subscriptions(user)).length, { timeout: 5_000 }).toBe(3);
      const inbox = await openInbox(user);
      await Promise.all(windows.map((w) => w.until(() => presenceFrames(w, user.user.id).length === 1, 'online')));
      await quietPeriod(PRESENCE.coalesceMs + 100); // a quiet spell: the offline change is relayed at once

      const cost = await sqlCost(stub, async () => {
        inbox.close();
        await Promise.all(windows.map((w) => w.until(() => presenceFrames(w, user.user.id).length === 2, 'offline')));
      });
      const found = await runInDurableObject(stub, (_i, state) => presence.subscribers(state.storage.sql, Date.now()));
      costs[contacts] = { ...cost, subscribers: found.subscriptions.length, subscriberRows: found.rowsRead };
      for (const w of windows) w.close();
    }
    console.log(`presence change cost: ${JSON.stringify(costs)}`);
    expect(costs[10_000]).toEqual(costs[10]);
    expect(costs[10_000]!.subscribers).toBe(3);
  });
});
