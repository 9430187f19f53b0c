/**
 * What reaches a user with no device online becomes a push, and what is listed in their
 * inbox, only when they may read it: a message deleted before it reached them, or
 * hidden for them (a blocked author's), neither notifies, previews nor counts as unread.
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { pushCandidates } from '../../src/user/notifications.js';
import { applyEvents, applyMembership } from '../../src/user/inbox.js';
import type { ConversationEvent, DeviceEvent, MessageEvent } from '../../src/protocol/index.js';

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

  it('neither previews nor counts as unread in the inbox', async () => {
    const state = await runInDurableObject(env.USERS.getByName(`u_inbox_${crypto.randomUUID()}`), (_instance, ctx) => {
      const sql = ctx.storage.sql;
      applyMembership(sql, { type: 'membership', conversationId: 'g_x', conversationKind: 'group', title: 'x', peerId: null, role: 'member', seq: 0, ts: 0 });
      applyEvents(sql, 'u_me', { type: 'events', conversationId: 'g_x', conversationKind: 'group', events: unreadable });
      return sql.exec<{ preview: string | null; unread: string }>("SELECT preview, unread FROM conversations WHERE conversation_id = 'g_x'").one();
    });
    expect(state.preview).toBeNull();
    expect(JSON.parse(state.unread)).toEqual([]);
  });
});

describe('the conversation list preview', () => {
  it('follows an edit of the previewed message, and goes with its deletion', async () => {
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
    expect(preview.deleted).toBeNull();
  });
});
