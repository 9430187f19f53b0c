import { describe, expect, it } from 'vitest';
import type { ConversationSummary, DeviceEvent } from '../../src/client/index.js';
import { connectionView } from '../../src/web/lib/connection.js';
import { applyChatEvents, applyInboxEvents, previewText, reconcileList } from '../../src/web/lib/inbox.js';
import { presenceText } from '../../src/web/lib/presence.js';
import { mergeWatermarks, messageStatus } from '../../src/web/lib/receipts.js';

describe('message status from watermarks', () => {
  const members = ['me', 'b', 'c'];
  it('is sent until every recipient has it, delivered until every one read it, then read', () => {
    let w = mergeWatermarks(new Map(), [{ userId: 'b', deliveredSeq: 5, readSeq: 0 }]);
    expect(messageStatus(5, 'me', members, w)).toEqual({ status: 'sent', recipients: 2, delivered: 1, read: 0 });
    w = mergeWatermarks(w, [{ userId: 'c', deliveredSeq: 5, readSeq: 5 }]);
    expect(messageStatus(5, 'me', members, w)).toEqual({ status: 'delivered', recipients: 2, delivered: 2, read: 1 });
    w = mergeWatermarks(w, [{ userId: 'b', deliveredSeq: 6, readSeq: 6 }]);
    expect(messageStatus(5, 'me', members, w)).toEqual({ status: 'read', recipients: 2, delivered: 2, read: 2 });
    expect(messageStatus(7, 'me', members, w).status).toBe('sent');
  });

  it('never moves a watermark back, and a read implies delivered', () => {
    const w = mergeWatermarks(mergeWatermarks(new Map(), [{ userId: 'b', deliveredSeq: 9, readSeq: 8 }]), [{ userId: 'b', deliveredSeq: 2, readSeq: 1 }]);
    expect(w.get('b')).toEqual({ deliveredSeq: 9, readSeq: 8 });
    expect(mergeWatermarks(new Map(), [{ userId: 'b', deliveredSeq: 0, readSeq: 4 }]).get('b')).toEqual({ deliveredSeq: 4, readSeq: 4 });
  });

  it('a conversation with nobody else stays sent', () => {
    expect(messageStatus(1, 'me', ['me'], new Map()).status).toBe('sent');
  });
});

describe('connection badge', () => {
  it('says online with the transport only while the stream is open and the browser online', () => {
    expect(connectionView({ status: 'open', browserOnline: true, queued: 0, transport: 'websocket' })).toEqual({ tone: 'online', text: 'Connected via WebSocket' });
    expect(connectionView({ status: 'open', browserOnline: false, queued: 2, transport: 'websocket' })).toEqual({ tone: 'offline', text: 'Offline · 2 queued' });
    expect(connectionView({ status: 'reconnecting', browserOnline: true, queued: 1, transport: 'websocket' })).toEqual({ tone: 'offline', text: 'Offline, reconnecting · 1 queued' });
    expect(connectionView({ status: 'connecting', browserOnline: true, queued: 0, transport: null }).tone).toBe('connecting');
  });
});

describe('conversation list from the device event stream', () => {
  const summary = (id: string, lastActivityAt: number, lastSeq = 1): ConversationSummary => ({
    id,
    kind: 'direct',
    title: null,
    role: 'member',
    joinedAt: 0,
    peerId: 'u_peer',
    lastSeq,
    lastActivityAt,
    preview: null,
    unreadCount: 0,
    readSeq: 0,
    encrypted: false,
  });
  const message = (conversationId: string, seq: number, from: string, text: string, cursor = seq): DeviceEvent => ({
    kind: 'event',
    cursor,
    conversationId,
    event: { type: 'message', seq, ts: 1000 + seq, author: { userId: from, deviceId: 'd' }, cmid: `c${seq}`, content: { type: 'text', text } },
  });

  it('moves a conversation up with its preview, and counts unread only from others and off screen', () => {
    const list = [summary('c_a', 500), summary('c_b', 400)];
    let fold = applyInboxEvents(list, [message('c_b', 2, 'u_peer', 'hi  there')], 'u_me', null);
    expect(fold.stale).toBe(false);
    expect(fold.list.map((c) => [c.id, c.unreadCount, c.preview?.text])).toEqual([
      ['c_b', 1, 'hi there'],
      ['c_a', 0, undefined],
    ]);
    fold = applyInboxEvents(fold.list, [message('c_b', 3, 'u_peer', 'again'), message('c_a', 5, 'u_peer', 'open one')], 'u_me', 'c_a');
    expect(fold.list.map((c) => [c.id, c.unreadCount])).toEqual([
      ['c_a', 0],
      ['c_b', 2],
    ]);
    fold = applyInboxEvents(fold.list, [message('c_b', 4, 'u_me', 'mine')], 'u_me', null);
    expect(fold.list.find((c) => c.id === 'c_b')?.unreadCount).toBe(0);
    expect(list[1]!.unreadCount).toBe(0);
  });

  it('ignores events the list already has, and asks for a re-read when it cannot fold one', () => {
    const list = [summary('c_a', 500, 5)];
    expect(applyInboxEvents(list, [message('c_a', 5, 'u_peer', 'old')], 'u_me', null)).toEqual({ list, stale: false });
    expect(applyInboxEvents(list, [message('c_new', 1, 'u_peer', 'hello')], 'u_me', null).stale).toBe(true);
    const membership: DeviceEvent = { kind: 'membership', cursor: 9, conversationId: 'c_a', conversationKind: 'group', title: 'T', peerId: null, role: null, seq: 6 };
    expect(applyInboxEvents(list, [membership], 'u_me', null).stale).toBe(true);
    const withPreview = [{ ...summary('c_a', 500, 5), preview: { seq: 5, authorId: 'u_peer', text: 'x' } }];
    const deleted: DeviceEvent = { kind: 'event', cursor: 10, conversationId: 'c_a', event: { type: 'message_deleted', seq: 6, ts: 1, author: { userId: 'u_peer', deviceId: 'd' }, targetSeq: 5, scope: 'everyone' } };
    const folded = applyInboxEvents(withPreview, [deleted], 'u_me', null);
    expect(folded).toMatchObject({ stale: false, list: [{ preview: { seq: 5, authorId: 'u_peer', text: '', deleted: true } }] });
    expect(previewText(folded.list[0]!)).toBe('This message was deleted.');
  });

  it('says a last message is deleted as the service does after a reload: a tombstone that arrives, or a summary marked deleted', () => {
    const tombstone: DeviceEvent = {
      kind: 'event',
      cursor: 11,
      conversationId: 'c_a',
      event: { type: 'message', seq: 6, ts: 600, author: { userId: 'u_peer', deviceId: 'd' }, cmid: 'c6', deleted: { scope: 'moderated', seq: 7, at: 1, by: 'u_admin' } },
    };
    const folded = applyInboxEvents([summary('c_a', 500, 5)], [tombstone], 'u_me', null).list[0]!;
    expect(folded.preview).toEqual({ seq: 6, authorId: 'u_peer', text: '', deleted: true });
    expect(previewText(folded)).toBe('This message was deleted.');
    expect(previewText({ ...summary('c_a', 500, 5), preview: { seq: 5, authorId: 'u_peer', text: '', deleted: true } })).toBe('This message was deleted.');
    expect(previewText({ ...summary('c_a', 500, 5), preview: { seq: 5, authorId: 'u_peer', text: 'hi' } })).toBe('hi');
    expect(previewText({ ...summary('c_a', 500, 5), kind: 'group', preview: null })).toBe('Group');
    expect(previewText({ ...summary('c_a', 500, 5), kind: 'direct', preview: null })).toBe('Direct chat');
  });

  it("ignores the key directory's signals: prekeys_low (the SDK's prekeysLow) and devices_changed", () => {
    const list = [summary('c_a', 500, 5)];
    const low: DeviceEvent = { kind: 'prekeys_low', cursor: 12, oneTimePreKeys: 3, pqOneTimePreKeys: 30 };
    expect(applyInboxEvents(list, [low], 'u_me', null)).toEqual({ list, stale: false });
    const changed: DeviceEvent = { kind: 'event', cursor: 13, conversationId: 'c_a', event: { type: 'devices_changed', seq: 6, ts: 1, author: { userId: 'u_peer', deviceId: 'd' }, userId: 'u_peer', version: 2 } };
    expect(applyInboxEvents(list, [changed], 'u_me', null)).toMatchObject({ stale: false, list: [{ id: 'c_a', lastSeq: 6, unreadCount: 0, lastActivityAt: 500 }] });
  });

  it('follows an edit of the previewed message, and leaves the preview alone for an edit of an older one', () => {
    const withPreview = [{ ...summary('c_a', 500, 5), preview: { seq: 5, authorId: 'u_peer', text: 'before' } }];
    const edit = (targetSeq: number): DeviceEvent => ({
      kind: 'event',
      cursor: 11,
      conversationId: 'c_a',
      event: { type: 'message_edited', seq: 6, ts: 1, author: { userId: 'u_peer', deviceId: 'd' }, targetSeq, content: { type: 'text', text: 'after' } },
    });
    expect(applyInboxEvents(withPreview, [edit(5)], 'u_me', null)).toMatchObject({ stale: false, list: [{ preview: { seq: 5, authorId: 'u_peer', text: 'after' } }] });
    expect(applyInboxEvents(withPreview, [edit(4)], 'u_me', null)).toMatchObject({ stale: false, list: [{ preview: { seq: 5, text: 'before' } }] });
  });

  it("folds the open chat's own events ahead of the stream, nothing unread, and stops before one it needs a read for", () => {
    const list = [summary('c_a', 500, 5), summary('c_b', 400, 3)];
    const chat = (d: DeviceEvent) => (d.kind === 'event' ? d.event : null)!;
    const ahead = applyChatEvents(list, 'c_b', [chat(message('c_b', 4, 'u_peer', 'first'))], 'u_me');
    expect(ahead.stoppedAt).toBeNull();
    expect(ahead.list.map((c) => [c.id, c.lastSeq, c.unreadCount, c.preview?.text])).toEqual([
      ['c_b', 4, 0, 'first'],
      ['c_a', 5, 0, undefined],
    ]);
    // The stream brings the same event later: already folded, nothing changes.
    expect(applyInboxEvents(ahead.list, [message('c_b', 4, 'u_peer', 'first')], 'u_me', null)).toEqual({ list: ahead.list, stale: false });

    // A member joins between two messages: the list folds the first and leaves the rest to the stream.
    const joined = { type: 'member_added', seq: 6, ts: 1006, author: { userId: 'u_peer', deviceId: 'd' }, userId: 'u_new', role: 'member' } as const;
    const stopped = applyChatEvents(ahead.list, 'c_b', [chat(message('c_b', 5, 'u_peer', 'before')), joined, chat(message('c_b', 7, 'u_peer', 'after'))], 'u_me');
    expect(stopped.stoppedAt).toBe(6);
    expect(stopped.list.find((c) => c.id === 'c_b')).toMatchObject({ lastSeq: 5, preview: { text: 'before' } });
    // So the stream still sees that event, and asks for the read.
    expect(applyInboxEvents(stopped.list, [{ kind: 'event', cursor: 9, conversationId: 'c_b', event: joined }], 'u_me', null).stale).toBe(true);
    // A chat the list does not know yet: left to the stream too.
    expect(applyChatEvents(list, 'c_new', [chat(message('c_new', 1, 'u_peer', 'hi'))], 'u_me')).toEqual({ list, stoppedAt: null });
  });
});

describe('presence text', () => {
  const now = Date.UTC(2025, 0, 10, 12, 0);
  it('says online, or when last seen, or nothing when unknown or hidden', () => {
    expect(presenceText({ userId: 'u', online: true, lastSeenAt: null }, now)).toBe('online');
    expect(presenceText({ userId: 'u', online: false, lastSeenAt: now - 20_000 }, now)).toBe('last seen just now');
    expect(presenceText({ userId: 'u', online: false, lastSeenAt: now - 5 * 60_000 }, now)).toBe('last seen 5 min ago');
    expect(presenceText({ userId: 'u', online: false, lastSeenAt: now - 3 * 3_600_000 }, now)).toBe('last seen 3 h ago');
    expect(presenceText({ userId: 'u', online: false, lastSeenAt: now - 3 * 86_400_000 }, now)).toBe('last seen 3 days ago');
    expect(presenceText({ userId: 'u', online: false, lastSeenAt: null }, now)).toBe('offline');
    expect(presenceText(undefined, now)).toBe('');
  });
});

describe('a list read merged with what the stream folded in meanwhile', () => {
  const summary = (id: string, lastSeq: number, unreadCount: number, lastActivityAt = lastSeq): ConversationSummary => ({
    id,
    kind: 'direct',
    title: null,
    role: 'member',
    joinedAt: 0,
    peerId: 'u_peer',
    lastSeq,
    lastActivityAt,
    preview: null,
    unreadCount,
    readSeq: 0,
    encrypted: false,
  });

  it('keeps a conversation the stream moved past the answer, and takes the answer on a tie or when it is newer', () => {
    const answer = [summary('dm_a', 2, 2), summary('dm_b', 9, 1), summary('dm_c', 5, 0)];
    const shown = [summary('dm_a', 8, 8), summary('dm_b', 7, 3), summary('dm_c', 5, 4)];
    const merged = reconcileList(answer, shown, true);
    expect(Object.fromEntries(merged.list.map((c) => [c.id, c.unreadCount]))).toEqual({ dm_a: 8, dm_b: 1, dm_c: 0 });
    expect(merged.list.map((c) => c.id)).toEqual(['dm_b', 'dm_a', 'dm_c']);
    expect(merged.confirm).toBe(false);
  });

  it('keeps a conversation the answer lacks only when events came in during the read, and asks to confirm it', () => {
    const answer = [summary('dm_a', 2, 0)];
    const shown = [summary('dm_a', 2, 0), summary('g_new', 1, 1)];
    expect(reconcileList(answer, shown, true)).toMatchObject({ confirm: true, list: [{ id: 'dm_a' }, { id: 'g_new' }] });
    // No event during the read: the answer is the truth (the user left g_new, say).
    expect(reconcileList(answer, shown, false)).toMatchObject({ confirm: false, list: [{ id: 'dm_a' }] });
    expect(reconcileList(answer, null, true)).toMatchObject({ confirm: false, list: [{ id: 'dm_a' }] });
  });
});
