/**
 * A block reaches every conversation where it is enforced: the blocker's UserDO passes its
 * whole list to each conversation of the blocker, to the direct conversation of the two
 * (even one not started yet), and to every conversation the blocker joins later. A call
 * that fails is kept in the UserDO's outbox and retried by its alarm. Reports have a
 * per-tier limit.
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { call, createGroup, json, registerUser } from './helpers.js';
import { directConversationId } from '../../src/ids.js';
import { TIER_LIMITS } from '../../src/ratelimit/rules.js';
import type { Session } from '../../src/protocol/index.js';

/** Who blocks whom, as a conversation holds it (what it enforces). */
const blocksIn = (conversationId: string) =>
  runInDurableObject(env.CONVERSATIONS.getByName(conversationId), (_i, state) =>
    state.storage.sql
      .exec<{ blocker_id: string; blocked_id: string }>('SELECT blocker_id, blocked_id FROM blocks ORDER BY blocker_id, blocked_id')
      .toArray()
      .map((r) => `${r.blocker_id}>${r.blocked_id}`),
  );

const outbox = (user: Session) =>
  runInDurableObject(env.USERS.getByName(user.user.id), (_i, state) => state.storage.sql.exec('SELECT conversation_id, kind FROM outbox').toArray());

const block = async (by: Session, target: Session, on = true) =>
  expect((await call(`/v1/blocks/${target.user.id}`, { token: by.accessToken, method: on ? 'PUT' : 'DELETE' })).status).toBe(204);

describe('blocks across conversations', () => {
  it("a block reaches every conversation of the blocker and the direct one of the two; an unblock too", async () => {
    const [alice, bob, carol, dave] = [await registerUser('alice'), await registerUser('bob'), await registerUser('carol'), await registerUser('dave')];
    const withBob = await createGroup(alice, [bob]);
    const withCarol = await createGroup(carol, [alice]);
    await expect.poll(async () => (await json('/v1/conversations', { token: alice.accessToken }, 200)).conversations.length, { timeout: 5_000 }).toBe(2);
    const direct = await directConversationId(alice.user.id, dave.user.id);
    await block(alice, dave);
    const edge = `${alice.user.id}>${dave.user.id}`;
    for (const id of [withBob, withCarol, direct]) expect(await blocksIn(id), id).toEqual([edge]);
    expect(await outbox(alice)).toEqual([]);
    await block(alice, dave, false);
    for (const id of [withBob, withCarol, direct]) expect(await blocksIn(id), id).toEqual([]);
  });

  it('a conversation the blocker joins later gets the list', async () => {
    const [alice, bob, carol] = [await registerUser('alice'), await registerUser('bob'), await registerUser('carol')];
    await block(alice, bob);
    const group = await createGroup(carol, [alice, bob]);
    await expect.poll(() => blocksIn(group), { timeout: 5_000 }).toEqual([`${alice.user.id}>${bob.user.id}`]);
  });

  it('a call that failed stays in the outbox and the alarm finishes it', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const group = await createGroup(alice, [bob]);
    await block(alice, bob);
    const user = env.USERS.getByName(alice.user.id);
    // As if the call to the group had failed: the group lost the list, the outbox kept a row due now.
    await runInDurableObject(env.CONVERSATIONS.getByName(group), (instance) => instance.setBlocks(alice.user.id, []));
    await runInDurableObject(user, async (_i, state) => {
      state.storage.sql.exec("INSERT INTO outbox (conversation_id, kind, device_id, version, attempts, due_at) VALUES (?, 'blocks', '', 1, 1, ?)", group, Date.now());
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(user)).toBe(true);
    expect(await blocksIn(group)).toEqual([`${alice.user.id}>${bob.user.id}`]);
    expect(await outbox(alice)).toEqual([]);
  });
});

describe('reports', () => {
  it('are limited per tier: past TIER_LIMITS[tier].reports, 429 rate_limited with Retry-After', async () => {
    const reporter = await registerUser('reporter');
    const { limit } = TIER_LIMITS.new.reports;
    for (let i = 0; i < limit; i++) {
      const target = await registerUser(`target${i}`);
      await json('/v1/reports', { token: reporter.accessToken, body: { kind: 'user', userId: target.user.id, reason: 'spam' } }, 201);
    }
    const last = await registerUser('target');
    const refused = await call('/v1/reports', { token: reporter.accessToken, body: { kind: 'user', userId: last.user.id, reason: 'spam' } });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await refused.json<{ code: string }>()).code).toBe('rate_limited');
  });
});
