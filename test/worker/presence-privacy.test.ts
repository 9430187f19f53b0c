/**
 * Presence is private: a user's real presence goes only to people who share one of their
 * conversations and whom they did not block. Everyone else gets exactly what an unknown
 * id gets, so the answer says nothing, not even that the user exists or blocked them.
 */
import { describe, expect, it } from 'vitest';
import { call, createDirect, createGroup, json, registerUser } from './helpers.js';
import { openInbox } from './inbox-helpers.js';
import type { Session } from '../../src/protocol/index.js';

const query = async (asker: Session, ...userIds: string[]) =>
  (await json('/v1/presence/query', { token: asker.accessToken, body: { userIds } }, 200)).presence;

const hidden = (userId: string) => ({ userId, online: false, lastSeenAt: null });

describe('presence is private', () => {
  it('a stranger gets the answer an unknown id gets; a member of a shared conversation gets the truth', async () => {
    const [alice, bob, stranger] = [await registerUser('alice'), await registerUser('bob'), await registerUser('stranger')];
    const group = await createGroup(alice, [bob]);
    const inbox = await openInbox(alice);
    const nobody = 'u_nobody_has_this_id';
    expect(await query(bob, alice.user.id)).toEqual([{ userId: alice.user.id, online: true, lastSeenAt: null }]);
    // A stranger who shares nothing with Alice (even one with conversations of their own).
    await createDirect(stranger, bob);
    expect(await query(stranger, alice.user.id, nobody)).toEqual([hidden(alice.user.id), hidden(nobody)]);
    // Yourself: the truth.
    expect((await query(alice, alice.user.id))[0].online).toBe(true);

    // Bob leaves: he no longer shares a conversation with Alice.
    await json(`/v1/conversations/${group}/members/${bob.user.id}`, { token: bob.accessToken, method: 'DELETE' }, 204);
    await expect.poll(async () => (await query(bob, alice.user.id))[0], { timeout: 5_000 }).toEqual(hidden(alice.user.id));
    inbox.close();
  });

  it('someone the user blocked gets the hidden answer, though they share a conversation; hiding last seen hides it from members', async () => {
    const [alice, bob, carol] = [await registerUser('alice'), await registerUser('bob'), await registerUser('carol')];
    await createGroup(alice, [bob, carol]);
    const inbox = await openInbox(alice);
    inbox.close();
    await inbox.socket.waitClosed();
    await expect.poll(async () => (await query(carol, alice.user.id))[0].lastSeenAt, { timeout: 5_000 }).not.toBeNull();
    expect((await call(`/v1/blocks/${bob.user.id}`, { token: alice.accessToken, method: 'PUT' })).status).toBe(204);
    expect(await query(bob, alice.user.id)).toEqual([hidden(alice.user.id)]);
    await json('/v1/presence/settings', { token: alice.accessToken, method: 'PUT', body: { hideLastSeen: true } }, 200);
    expect(await query(carol, alice.user.id)).toEqual([hidden(alice.user.id)]);
  });
});
