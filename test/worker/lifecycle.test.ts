import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { createDirect, createGroup, json, openWindow, registerUser } from './helpers.js';
import { cmid, dumpStorage, text } from './lifecycle-helpers.js';
import { applyEvents } from '../../src/client/timeline.js';
import { LIFECYCLE, type ConversationEvent, type MessageEvent, type Session } from '../../src/protocol/index.js';

async function send(session: Session, id: string, body: string, replyToSeq?: number): Promise<number> {
  const payload: Record<string, unknown> = { cmid: cmid(), content: text(body) };
  if (replyToSeq !== undefined) payload.replyToSeq = replyToSeq;
  return (await json(`/v1/conversations/${id}/messages`, { token: session.accessToken, body: payload }, 201)).seq;
}

async function history(session: Session, id: string, after = 0): Promise<ConversationEvent[]> {
  const events: ConversationEvent[] = [];
  for (;;) {
    const page = await json(`/v1/conversations/${id}/events?after=${after}&limit=100`, { token: session.accessToken }, 200);
    events.push(...page.events);
    if (!page.hasMore) return events;
    after = page.events.at(-1).seq;
  }
}

const messageAt = (events: ConversationEvent[], seq: number) => events.find((e): e is MessageEvent => e.type === 'message' && e.seq === seq);

/** Moves a message's send time into the past, as if it had been sent `ms` ago. */
async function age(id: string, seq: number, ms: number): Promise<void> {
  await runInDurableObject(env.CONVERSATIONS.getByName(id), (_i, state) => {
    state.storage.sql.exec('UPDATE events SET ts = ts - ? WHERE seq = ?', ms, seq);
  });
}

describe('edits', () => {
  it('only the author edits; history shows the current text and the full edit history is kept', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const seq = await send(alice, id, 'first draft');

    const refused = await json(`/v1/conversations/${id}/messages/${seq}`, { token: bob.accessToken, method: 'PATCH', body: { content: text('bob was here') } }, 403);
    expect(refused.code).toBe('forbidden');

    const e1 = (await json(`/v1/conversations/${id}/messages/${seq}`, { token: alice.accessToken, method: 'PATCH', body: { content: text('second draft') } }, 200)).seq;
    const e2 = (await json(`/v1/conversations/${id}/messages/${seq}`, { token: alice.accessToken, method: 'PATCH', body: { content: text('final') } }, 200)).seq;
    expect([e1, e2]).toEqual([seq + 1, seq + 2]);

    const events = await history(bob, id);
    expect(messageAt(events, seq)).toMatchObject({ content: text('final'), edited: { seq: e2 } });
    expect(events.filter((e) => e.type === 'message_edited').map((e) => e.seq)).toEqual([e1, e2]);

    const { versions } = await json(`/v1/conversations/${id}/messages/${seq}/versions`, { token: bob.accessToken }, 200);
    expect(versions.map((v: any) => v.content.text)).toEqual(['first draft', 'second draft', 'final']);
    expect(versions.map((v: any) => v.seq)).toEqual([seq, e1, e2]);
  });

  it('refuses edits after the edit window, edits of non-messages, and bad input', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const seq = await send(alice, id, 'too late to change');
    await age(id, seq, LIFECYCLE.editWindowMs + 1_000);
    const late = await json(`/v1/conversations/${id}/messages/${seq}`, { token: alice.accessToken, method: 'PATCH', body: { content: text('changed') } }, 403);
    expect(late.code).toBe('window_expired');
    expect((await json(`/v1/conversations/${id}/messages/99`, { token: alice.accessToken, method: 'PATCH', body: { content: text('x') } }, 404)).code).toBe('not_found');
    expect((await json(`/v1/conversations/${id}/messages/${seq}`, { token: alice.accessToken, method: 'PATCH', body: { content: text('x'), extra: 1 } }, 400)).code).toBe('invalid_request');
    expect(messageAt(await history(alice, id), seq)!.content).toEqual(text('too late to change'));
  });
});

describe('delete for everyone', () => {
  it('erases the original and every edit from every SQLite row, the search index included, leaving a tombstone', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const seq = await send(alice, id, 'the password is zebraquokka');
    await json(`/v1/conversations/${id}/messages/${seq}`, { token: alice.accessToken, method: 'PATCH', body: { content: text('actually it is platypuswombat') } }, 200);
    const reply = await send(bob, id, 'noted', seq);
    await json(`/v1/conversations/${id}/messages/${seq}/reactions`, { token: bob.accessToken, body: { emoji: '👍' } }, 200);
    expect(messageAt(await history(bob, id), reply)!.replyTo).toEqual({ seq, userId: alice.user.id, quote: 'actually it is platypuswombat' });
    const before = await dumpStorage(id);
    expect(before.text).toContain('zebraquokka');
    expect(before.text).toContain('platypuswombat');
    // The index holds tokens only, never a copy of the text.
    expect(before.tables).toEqual(expect.arrayContaining(['message_fts_data']));
    expect(before.tables).not.toContain('message_fts_content');

    const deleted = await json(`/v1/conversations/${id}/messages/${seq}`, { token: alice.accessToken, method: 'DELETE' }, 200);
    expect(deleted.seq).toBeGreaterThan(reply);

    const after = await dumpStorage(id);
    expect(after.text).not.toContain('zebraquokka');
    expect(after.text).not.toContain('platypuswombat');
    const events = await history(bob, id);
    expect(messageAt(events, seq)).toEqual({
      type: 'message',
      seq,
      ts: expect.any(Number),
      author: { userId: alice.user.id, deviceId: alice.deviceId },
      cmid: expect.any(String),
      deleted: { scope: 'everyone', seq: deleted.seq, at: expect.any(Number), by: alice.user.id },
    });
    expect(messageAt(events, reply)!.replyTo).toEqual({ seq, userId: alice.user.id, quote: null });
    expect((await json(`/v1/conversations/${id}/messages/${seq}/versions`, { token: bob.accessToken }, 200)).versions).toEqual([]);
    // Deleting again changes nothing; editing or reacting to a tombstone is refused.
    expect((await json(`/v1/conversations/${id}/messages/${seq}`, { token: alice.accessToken, method: 'DELETE' }, 200)).seq).toBeNull();
    expect((await json(`/v1/conversations/${id}/messages/${seq}`, { token: alice.accessToken, method: 'PATCH', body: { content: text('x') } }, 409)).code).toBe('conflict');
  });

  it('authors delete within the window, admins any message, members not others\' messages', async () => {
    const [owner, admin, member] = [await registerUser('owner'), await registerUser('admin'), await registerUser('member')];
    const id = await createGroup(owner, [admin, member]);
    await json(`/v1/conversations/${id}/members/${admin.user.id}`, { token: owner.accessToken, method: 'PATCH', body: { role: 'admin' } }, 200);
    const byOwner = await send(owner, id, 'owner says');
    const old = await send(member, id, 'old message');
    await age(id, old, LIFECYCLE.deleteWindowMs + 1_000);

    expect((await json(`/v1/conversations/${id}/messages/${byOwner}`, { token: member.accessToken, method: 'DELETE' }, 403)).code).toBe('forbidden');
    expect((await json(`/v1/conversations/${id}/messages/${old}`, { token: member.accessToken, method: 'DELETE' }, 403)).code).toBe('window_expired');
    expect((await json(`/v1/conversations/${id}/messages/${old}?scope=moderate`, { token: member.accessToken, method: 'DELETE' }, 403)).code).toBe('forbidden');
    await json(`/v1/conversations/${id}/messages/${old}`, { token: admin.accessToken, method: 'DELETE' }, 200);
    await json(`/v1/conversations/${id}/messages/${byOwner}`, { token: admin.accessToken, method: 'DELETE' }, 200);
    const events = await history(member, id);
    expect(messageAt(events, old)!.deleted).toMatchObject({ scope: 'everyone', by: admin.user.id });
    expect(messageAt(events, byOwner)!.deleted).toMatchObject({ scope: 'everyone', by: admin.user.id });
  });

  it('moderation hides a message but keeps its content for admins until the retention ends', async () => {
    const [owner, member] = [await registerUser('owner'), await registerUser('member')];
    const id = await createGroup(owner, [member]);
    const seq = await send(member, id, 'offending capybaraxylophone');
    await json(`/v1/conversations/${id}/messages/${seq}?scope=moderate`, { token: owner.accessToken, method: 'DELETE' }, 200);
    expect(messageAt(await history(member, id), seq)).toMatchObject({ deleted: { scope: 'moderated', by: owner.user.id } });
    expect(messageAt(await history(member, id), seq)!.content).toBeUndefined();
    expect((await json(`/v1/conversations/${id}/messages/${seq}/versions`, { token: member.accessToken }, 403)).code).toBe('forbidden');
    const held = await json(`/v1/conversations/${id}/messages/${seq}/versions`, { token: owner.accessToken }, 200);
    expect(held.versions.map((v: any) => v.content.text)).toEqual(['offending capybaraxylophone']);
    // Not findable by search while held.
    expect((await json(`/v1/conversations/${id}/search?q=capybaraxylophone`, { token: owner.accessToken }, 200)).results).toEqual([]);

    // The retention period ends: the alarm erases the content.
    const stub = env.CONVERSATIONS.getByName(id);
    await runInDurableObject(stub, async (instance, state) => {
      state.storage.sql.exec('UPDATE message_state SET purge_at = ? WHERE seq = ?', Date.now() - 1, seq);
      // Written behind the object's back: its store reads what SQLite holds again.
      (instance as unknown as { parts: { store: { reset(): void } } }).parts.store.reset();
      // Far enough ahead not to fire by itself while the test runs it.
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await dumpStorage(id)).text).not.toContain('capybaraxylophone');
    expect((await json(`/v1/conversations/${id}/messages/${seq}/versions`, { token: owner.accessToken }, 200)).versions).toEqual([]);
  });
});

describe('delete for me', () => {
  it('hides the message for that user on all their devices only', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const seq = await send(alice, id, 'embarrassing typo');
    const bobWindow = await openWindow(bob, id);
    const aliceWindow = await openWindow(alice, id);
    await json(`/v1/conversations/${id}/messages/${seq}?scope=me`, { token: bob.accessToken, method: 'DELETE' }, 200);
    await bobWindow.next('hidden', (f) => f.seq === seq);

    expect(messageAt(await history(bob, id), seq)).toEqual({ type: 'message', seq, ts: expect.any(Number), author: expect.any(Object), cmid: expect.any(String), hidden: true });
    expect(messageAt(await history(alice, id), seq)!.content).toEqual(text('embarrassing typo'));
    expect((await json(`/v1/conversations/${id}/search?q=typo`, { token: bob.accessToken }, 200)).results).toEqual([]);
    expect((await json(`/v1/conversations/${id}/search?q=typo`, { token: alice.accessToken }, 200)).results).toHaveLength(1);
    // No event in the log: nobody else learns of it.
    expect((await history(alice, id)).map((e) => e.type)).toEqual(['message']);
    expect(aliceWindow.frames.some((f) => f.type === 'hidden')).toBe(false);
    bobWindow.close();
    aliceWindow.close();
  });
});

describe('reactions and replies', () => {
  it('keeps one set of reactions per user per message, over frames and HTTP', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const seq = await send(alice, id, 'lunch?');
    const w = await openWindow(bob, id);
    w.send({ type: 'react', rid: 'r1', targetSeq: seq, emoji: '🍕', op: 'add' });
    expect((await w.next('done', (f) => f.rid === 'r1')).seq).toBe(seq + 1);
    w.send({ type: 'react', rid: 'r2', targetSeq: seq, emoji: '🍕', op: 'add' });
    expect((await w.next('done', (f) => f.rid === 'r2')).seq).toBeNull();
    w.send({ type: 'react', rid: 'r3', targetSeq: seq, emoji: 'has space', op: 'add' });
    expect((await w.next('error', (f) => f.rid === 'r3')).code).toBe('invalid_request');
    await json(`/v1/conversations/${id}/messages/${seq}/reactions`, { token: alice.accessToken, body: { emoji: '🍕' } }, 200);
    await json(`/v1/conversations/${id}/messages/${seq}/reactions`, { token: bob.accessToken, body: { emoji: '👍' } }, 200);
    await json(`/v1/conversations/${id}/messages/${seq}/reactions`, { token: bob.accessToken, body: { emoji: '👍', op: 'remove' } }, 200);
    const reactions = messageAt(await history(alice, id), seq)!.reactions;
    expect(reactions).toEqual([{ emoji: '🍕', userIds: [alice.user.id, bob.user.id].sort() }]);
    w.close();
  });

  it('a reply must point at a live message', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    expect((await json(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: cmid(), content: text('hi'), replyToSeq: 5 } }, 404)).code).toBe('not_found');
    const seq = await send(alice, id, 'x'.repeat(300));
    const reply = await send(bob, id, 'long one', seq);
    const quote = messageAt(await history(alice, id), reply)!.replyTo!.quote!;
    expect(quote).toBe('x'.repeat(100));
  });
});

describe('offline convergence', () => {
  it('a client offline through edits, deletes and reactions converges to the online client and to fresh history', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const m1 = await send(alice, id, 'one');
    const m2 = await send(bob, id, 'two');
    const m3 = await send(alice, id, 'three');
    // Both clients start from the same history; Alice stays online, Bob goes offline.
    const start = await history(bob, id);
    const online = applyEvents(new Map(), start);
    const offline = applyEvents(new Map(), start);
    const lastSeen = start.at(-1)!.seq;
    const aliceWindow = await openWindow(alice, id);

    const reply = await send(bob, id, 'replying to one', m1);
    await json(`/v1/conversations/${id}/messages/${m1}`, { token: alice.accessToken, method: 'PATCH', body: { content: text('one, edited') } }, 200);
    await json(`/v1/conversations/${id}/messages/${m2}/reactions`, { token: alice.accessToken, body: { emoji: '❤️' } }, 200);
    await json(`/v1/conversations/${id}/messages/${m3}`, { token: alice.accessToken, method: 'DELETE' }, 200);
    await json(`/v1/conversations/${id}/messages/${m2}/reactions`, { token: bob.accessToken, body: { emoji: '❤️' } }, 200);
    await json(`/v1/conversations/${id}/messages/${m1}`, { token: alice.accessToken, method: 'PATCH', body: { content: text('one, edited twice') } }, 200);
    const last = (await json(`/v1/conversations/${id}`, { token: alice.accessToken }, 200)).conversation.lastSeq;
    await aliceWindow.until(() => aliceWindow.events().at(-1)?.seq === last, 'all live events');

    applyEvents(online, aliceWindow.events());
    applyEvents(offline, await history(bob, id, lastSeen));
    const fresh = applyEvents(new Map(), await history(bob, id));
    expect([...offline.values()]).toEqual([...online.values()]);
    expect([...fresh.values()]).toEqual([...online.values()]);
    expect(online.get(m1)).toMatchObject({ content: text('one, edited twice') });
    expect(online.get(m3)!.deleted).toMatchObject({ scope: 'everyone' });
    expect(online.get(m2)!.reactions).toEqual([{ emoji: '❤️', userIds: [alice.user.id, bob.user.id].sort() }]);
    expect(online.get(reply)!.replyTo).toEqual({ seq: m1, userId: alice.user.id, quote: 'one, edited twice' });
    aliceWindow.close();
  });
});
