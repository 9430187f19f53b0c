/**
 * The conversation's store keeps facts read from SQLite in memory (the log's tip,
 * members, watermarks, deadlines, blocks, relays). A transaction that throws is rolled
 * back by SQLite; these tests pin that every fact the store then holds is what SQLite
 * holds, and that FACTS names every fact the object had in memory beforehand (so a fact
 * added later without being listed here fails the test, as RELAYS once was).
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { ConversationStore, type Fact } from '../../src/conversation/store.js';
import type { ConversationDO } from '../../src/conversation/ConversationDO.js';
import * as blocks from '../../src/conversation/blocks.js';
import * as fanout from '../../src/conversation/fanout.js';
import * as eventLog from '../../src/conversation/log.js';
import * as members from '../../src/conversation/members.js';
import { META } from '../../src/conversation/meta.js';
import * as outbox from '../../src/conversation/outbox.js';
import * as search from '../../src/conversation/search.js';
import * as receipts from '../../src/conversation/receipts.js';
import * as relays from '../../src/conversation/relays.js';
import * as lifecycle from '../../src/conversation/lifecycle.js';
import { createGroup, json, openWindow, partsOf, registerUser } from './helpers.js';
import { silentUsers, text } from './inbox-helpers.js';
import type { Session } from '../../src/protocol/index.js';

const FACTS: Fact<unknown>[] = [eventLog.TIP, eventLog.RECENT, META, members.MEMBERS, members.COUNT, outbox.NEXT_DUE, fanout.STATE, fanout.LAG_DUE, search.INDEXED_UPTO, blocks.BLOCKS, blocks.KNOWN_LISTS, receipts.FLUSH_DUE, lifecycle.NEXT_PURGE, relays.RELAYS];

const storeOf = (instance: ConversationDO): ConversationStore => partsOf(instance).store;

describe('the conversation store', () => {
  it('after a transaction that throws mid-way, every fact it holds equals what SQLite holds (a conversation with relays)', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    // Large enough for relays (RELAY_MIN_MEMBERS): bob's window sits on one.
    const silent = await silentUsers(relays.RELAY_DEFAULTS.minMembers);
    const id = await createGroup(alice, [bob, ...silent.map((userId) => ({ user: { id: userId } }) as Session)]);
    for (let i = 0; i < 3; i++) {
      await json(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: crypto.randomUUID(), content: text(`m${i}`) } }, 201);
    }
    const window = await openWindow(bob, id);
    const outcome = await runInDurableObject(env.CONVERSATIONS.getByName(id), (instance: ConversationDO) => {
      const store = storeOf(instance);
      const heldBefore = store.audit().map((a) => a.name);
      for (const f of FACTS) store.get(f);
      const relaysBefore = store.get(relays.RELAYS).size;
      const before = { lastSeq: eventLog.lastSeq(store), members: members.memberCount(store) };
      let thrown: unknown = null;
      try {
        store.transaction(() => {
          // Every kind of fact moves, then the write fails.
          eventLog.append(store, { type: 'member_added', ts: Date.now(), author: { userId: alice.user.id, deviceId: alice.deviceId }, userId: 'u_ghost', role: 'member' });
          members.putMember(store, { userId: 'u_ghost', role: 'member', joinedAt: Date.now() });
          outbox.enqueue(store, 'u_ghost', { type: 'read', conversationId: id, seq: 1, ts: Date.now() }, Date.now());
          blocks.replace(store, bob.user.id, ['u_ghost']);
          search.catchUp(store, eventLog.lastSeq(store));
          receipts.markRead(store, bob.user.id, 1, eventLog.lastSeq(store), Date.now());
          lifecycle.deleteForAll(store, { userId: alice.user.id, deviceId: alice.deviceId, role: 'owner' }, 'group', 1, 'moderated', Date.now());
          // A reader placed on a relay: its socket count (or a new relay) is written.
          partsOf(instance).relays.assign({ userId: bob.user.id, deviceId: `${bob.deviceId}-other` });
          throw new Error('the write fails');
        });
      } catch (err) {
        thrown = err;
      }
      for (const f of FACTS) store.get(f);
      return { thrown: String(thrown), heldBefore, relaysBefore, before, after: { lastSeq: eventLog.lastSeq(store), members: members.memberCount(store) }, audit: store.audit() };
    });
    window.close();
    expect(outcome.relaysBefore, 'relays before the transaction').toBeGreaterThan(0);
    expect(outcome.heldBefore.filter((name) => !FACTS.some((f) => f.name === name)), 'facts held but not in FACTS').toEqual([]);
    expect(outcome.thrown).toContain('the write fails');
    expect(outcome.after).toEqual(outcome.before);
    expect(outcome.audit).toHaveLength(FACTS.length);
    for (const { name, held, stored } of outcome.audit) expect(held, name).toEqual(stored);
  });

  it('after ordinary traffic (sends, membership, reads, deletes), the facts held equal SQLite', async () => {
    const [alice, bob, carol] = [await registerUser('alice'), await registerUser('bob'), await registerUser('carol')];
    const id = await createGroup(alice, [bob]);
    const sent = await json(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: crypto.randomUUID(), content: text('hi') } }, 201);
    await json(`/v1/conversations/${id}/members`, { token: alice.accessToken, body: { userId: carol.user.id } }, 201);
    await json(`/v1/conversations/${id}/read`, { token: bob.accessToken, body: { seq: sent.seq } }, 200);
    await json(`/v1/conversations/${id}/messages/${sent.seq}?scope=everyone`, { token: alice.accessToken, method: 'DELETE' }, 200);
    await json(`/v1/conversations/${id}/members/${carol.user.id}`, { token: alice.accessToken, method: 'DELETE' }, 204);
    const audit = await runInDurableObject(env.CONVERSATIONS.getByName(id), (instance: ConversationDO) => storeOf(instance).audit());
    expect(audit.length).toBeGreaterThan(3);
    for (const { name, held, stored } of audit) expect(held, name).toEqual(stored);
  });
});
