/**
 * What reaches a user with no device online becomes a push, and what is listed in their
 * inbox, only when they may read it: a message deleted before it reached them, or
 * hidden for them (a blocked author's), neither notifies nor counts as unread; a hidden
 * one does not preview, a deleted one previews as deleted, with no content.
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { pushCandidates } from '../../src/user/notifications.js';
import { applyEvents, applyMembership } from '../../src/user/inbox.js';
import type { ConversationEvent, DeviceEvent, MessageEvent, Session } from '../../src/protocol/index.js';
import { createDirect, createGroup, json, partsOf, registerUser, summaryOf } from './helpers.js';
import { text } from './inbox-helpers.js';
import { block, sendText } from './boundary-helpers.js';
import * as blocks from '../../src/conversation/blocks.js';
import type { ConversationDO } from '../../src/conversation/ConversationDO.js';


const author = { userId: 'u_sender', deviceId: 'd_sender' };
const message = (seq: number, extra: Partial<MessageEvent> = {}): MessageEvent => ({ type: 'message', seq, ts: seq, author, cmid: `c${seq}`, content: { type: 'text', text: `m${seq}` }, ...extra });
const unreadable = [
  message(1, { content: undefined, hidden: true }),
  message(2, { content: undefined, deleted: { scope: 'moderated', seq: 3, at: 3, by: 'u_admin' } }),
];

describe('what a user may not read', () => {
  it('is never a push candidate', () => {
    const events: DeviceEvent[] = unreadable.map((event, i) => ({ kind: 'event', conversationId: 'g_x', event, cursor: i + 1 }) as DeviceEvent);
    expect(pushCandidates('u_me', events, () => ({ kind: 'group', title: 'x' }))).toEqual([]);
    const readable: DeviceEvent = { kind: 'event', conversationId: 'g_x', event: message(4), cursor: 3 } as DeviceEvent;
    expect(pushCandidates('u_me', [...events, readable], () => ({ kind: 'group', title: 'x' }))).toHaveLength(1);
  });

  it('does not count as unread in the inbox; a hidden message does not preview, a deleted one previews as deleted', async () => {
    const state = await runInDurableObject(env.USERS.getByName(`u_inbox_${crypto.randomUUID()}`), (_instance, ctx) => {
      const sql = ctx.storage.sql;
      applyMembership(sql, { type: 'membership', conversationId: 'g_x', conversationKind: 'group', title: 'x', peerId: null, role: 'member', seq: 0, ts: 0 });
      const read = () => sql.exec<{ preview: string | null; unread: string }>("SELECT preview, unread FROM conversations WHERE conversation_id = 'g_x'").one();
      applyEvents(sql, 'u_me', { type: 'events', conversationId: 'g_x', conversationKind: 'group', events: [unreadable[0]!] });
      const hidden = read();
      applyEvents(sql, 'u_me', { type: 'events', conversationId: 'g_x', conversationKind: 'group', events: [unreadable[1]!] });
      return { hidden, deleted: read() };
    });
    expect(state.hidden.preview).toBeNull();
    expect(JSON.parse(state.deleted.preview!)).toEqual({ seq: 2, authorId: author.userId, text: '', deleted: true });
    expect(JSON.parse(state.deleted.unread)).toEqual([]);
  });
});

describe('the conversation list preview', () => {
  it('follows an edit of the previewed message, and says when it is deleted', async () => {
    const preview = await runInDurableObject(env.USERS.getByName(`u_preview_${crypto.randomUUID()}`), (_instance, ctx) => {
      const sql = ctx.storage.sql;
      const read = () => JSON.parse(sql.exec<{ preview: string | null }>("SELECT preview FROM conversations WHERE conversation_id = 'g_p'").one().preview ?? 'null');
      applyMembership(sql, { type: 'membership', conversationId: 'g_p', conversationKind: 'group', title: 'p', peerId: null, role: 'member', seq: 0, ts: 0 });
      const events = (list: ConversationEvent[]) => applyEvents(sql, 'u_me', { type: 'events', conversationId: 'g_p', conversationKind: 'group', events: list });
      events([message(1)]);
      const sent = read();
      events([{ type: 'message_edited', seq: 2, ts: 2, author, targetSeq: 1, content: { type: 'text', text: 'm1, fixed' } }]);
      const edited = read();
      events([{ type: 'message_deleted', seq: 3, ts: 3, author, targetSeq: 1, scope: 'everyone' }]);
      return { sent, edited, deleted: read() };
    });
    expect(preview.sent).toMatchObject({ seq: 1, text: 'm1' });
    expect(preview.edited).toMatchObject({ seq: 1, authorId: author.userId, text: 'm1, fixed' });
    expect(preview.deleted).toEqual({ seq: 1, authorId: author.userId, text: '', deleted: true });
  });

  it('after a reload or on another device: a deleted last message reads as deleted on both fan-out paths, its content nowhere', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    await sendText(bob, id, 'before');
    const seq = await sendText(bob, id, 'plumquartz secret');
    await json(`/v1/conversations/${id}/messages/${seq}`, { token: bob.accessToken, method: 'DELETE' }, 200);
    // Fan-out on write: what alice's UserDO keeps (what a reload or another device reads).
    await expect.poll(async () => (await summaryOf(alice, id))?.preview, { timeout: 10_000 }).toEqual({ seq, authorId: bob.user.id, text: '', deleted: true });
    // Fan-out on read: what the conversation answers for large conversations.
    expect(await onRead(id, alice)).toEqual({ seq, authorId: bob.user.id, text: '', deleted: true });
    expect(JSON.stringify(await summaryOf(alice, id))).not.toContain('plumquartz');
  });

  it('a moderated last message reads as deleted, though its content is held; on read, the preview follows an edit', async () => {
    const [owner, member, reader] = [await registerUser('owner'), await registerUser('member'), await registerUser('reader')];
    const id = await createGroup(owner, [member, reader]);
    const seq = await sendText(member, id, 'first words');
    await json(`/v1/conversations/${id}/messages/${seq}`, { token: member.accessToken, method: 'PATCH', body: { content: text('second words') } }, 200);
    expect(await onRead(id, reader)).toMatchObject({ seq, text: 'second words' });
    await json(`/v1/conversations/${id}/messages/${seq}?scope=moderate`, { token: owner.accessToken, method: 'DELETE' }, 200);
    const deleted = { seq, authorId: member.user.id, text: '', deleted: true };
    await expect.poll(async () => (await summaryOf(reader, id))?.preview, { timeout: 10_000 }).toEqual(deleted);
    expect(await onRead(id, reader)).toEqual(deleted);
    expect(JSON.stringify([await summaryOf(reader, id), await onRead(id, reader)])).not.toMatch(/words/);
  });
});

describe('delete for me and the list', () => {
  it("hiding the last message moves the list's preview to the one before it, on the user's list only", async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const first = await sendText(bob, id, 'still shown');
    const last = await sendText(bob, id, 'plumquartz hidden for alice');
    await expect.poll(async () => (await summaryOf(alice, id))?.preview?.seq, { timeout: 10_000 }).toBe(last);
    await json(`/v1/conversations/${id}/messages/${last}?scope=me`, { token: alice.accessToken, method: 'DELETE' }, 200);
    await expect.poll(async () => (await summaryOf(alice, id))?.preview, { timeout: 10_000 }).toMatchObject({ seq: first, text: 'still shown' });
    expect(JSON.stringify(await summaryOf(alice, id))).not.toContain('plumquartz');
    expect((await summaryOf(bob, id))?.preview).toMatchObject({ seq: last });
    // Hiding a message that is not the preview leaves the preview alone (a read sent after it
    // goes through the same outbox to bob's UserDO: once it shows, the hide was applied).
    await json(`/v1/conversations/${id}/messages/${first}?scope=me`, { token: bob.accessToken, method: 'DELETE' }, 200);
    await json(`/v1/conversations/${id}/read`, { token: bob.accessToken, body: { seq: last } }, 200);
    await expect.poll(async () => (await summaryOf(bob, id))?.readSeq, { timeout: 10_000 }).toBe(last);
    expect((await summaryOf(bob, id))?.preview).toMatchObject({ seq: last });
  });
});

describe('a blocked author in a conversation that fans out on read', () => {
  it("neither previews nor counts as unread for the blocker, as on the write path; the others see it", async () => {
    const [owner, blocker, blocked] = [await registerUser('owner'), await registerUser('blocker'), await registerUser('blocked')];
    const id = await createGroup(owner, [blocker, blocked]);
    const before = await sendText(owner, id, 'from the owner');
    await block(blocker, blocked);
    // The conversation hears of the block from the blocker's UserDO (its outbox).
    const heard = (): Promise<boolean> => runInDurableObject(env.CONVERSATIONS.getByName(id), (instance: ConversationDO) => blocks.has(partsOf(instance).store, blocker.user.id, blocked.user.id));
    await expect.poll(heard, { timeout: 10_000 }).toBe(true);
    await sendText(blocked, id, 'plumquartz from the blocked');
    await sendText(blocked, id, 'plumquartz again');
    const state = await env.CONVERSATIONS.getByName(id).inboxState(blocker.user.id, 0);
    if (!state.ok) throw new Error(state.error.message);
    expect(state.value.preview).toMatchObject({ seq: before, authorId: owner.user.id, text: 'from the owner' });
    expect(state.value.unreadCount).toBe(1);
    // The others see the blocked user's last message.
    expect(await onRead(id, owner)).toMatchObject({ authorId: blocked.user.id, text: 'plumquartz again' });
  });
});

/** The preview the conversation itself computes for a member (conversations that fan out on read). */
async function onRead(id: string, session: Session) {
  const state = await env.CONVERSATIONS.getByName(id).inboxState(session.user.id, 0);
  if (!state.ok) throw new Error(state.error.message);
  return state.value.preview;
}
