/**
 * @module user/inbox
 * The user's conversation list: membership, last seq, last activity, a preview of the
 * last message, the read watermark and unread counts. Fed by the updates the
 * ConversationDOs send (src/user/updates.ts); each is applied at most once.
 */
import { INBOX, deletedPreview, previewOf, type ConversationEvent, type ConversationSummary, type MessagePreview, type Role } from '../protocol/index.js';
import type { ActivityUpdate, EventsUpdate, HiddenUpdate, MembershipUpdate, ReadUpdate } from './updates.js';

interface ConversationRow {
  conversation_id: string;
  kind: 'direct' | 'group';
  title: string | null;
  peer_id: string | null;
  role: Role | null;
  joined_at: number;
  applied_seq: number;
  last_seq: number;
  last_activity_at: number | null;
  preview: string | null;
  read_seq: number;
  fanout: 'write' | 'read';
  /** JSON: seqs of messages from others after read_seq, ascending (see `keepUnread`). */
  unread: string;
  /** 1: end-to-end encrypted (from the membership updates). */
  encrypted: number;
  [key: string]: SqlStorageValue;
}

/** A conversation the list shows, before counts that may need its ConversationDO. */
export interface ListedConversation {
  summary: ConversationSummary;
  /** Fan-out on read: the row holds only hints; ask the conversation for the current state. */
  onRead: boolean;
}

/** Whether the user is a member of the conversation now (as far as the updates applied say). */
export function isMember(sql: SqlStorage, conversationId: string): boolean {
  return sql.exec('SELECT 1 FROM conversations WHERE conversation_id = ? AND role IS NOT NULL', conversationId).toArray().length > 0;
}

/** The ids of the user's current conversations. */
export function memberOf(sql: SqlStorage): string[] {
  return sql.exec<{ conversation_id: string }>('SELECT conversation_id FROM conversations WHERE role IS NOT NULL').toArray().map((r) => r.conversation_id);
}

/** The end-to-end encrypted conversations the user is a member of: where a change of their device list is announced. */
export function encryptedMemberOf(sql: SqlStorage): string[] {
  return sql
    .exec<{ conversation_id: string }>('SELECT conversation_id FROM conversations WHERE role IS NOT NULL AND encrypted = 1')
    .toArray()
    .map((r) => r.conversation_id);
}

/** Applies a membership change if it is newer than the stored one; true when it changed. */
export function applyMembership(sql: SqlStorage, update: MembershipUpdate): boolean {
  // seq 0 is the creation; a later re-join has a higher seq. A row made by events that
  // arrived first has membership_seq -1, so any membership update wins over it.
  const cursor = sql.exec(
    `INSERT INTO conversations (conversation_id, kind, title, peer_id, role, joined_at, membership_seq, encrypted)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (conversation_id) DO UPDATE SET
       title = excluded.title, peer_id = excluded.peer_id, role = excluded.role, encrypted = max(conversations.encrypted, excluded.encrypted),
       joined_at = CASE WHEN conversations.role IS NULL THEN excluded.joined_at ELSE conversations.joined_at END,
       membership_seq = excluded.membership_seq
     WHERE excluded.membership_seq > conversations.membership_seq`,
    update.conversationId,
    update.conversationKind,
    update.title,
    update.peerId,
    update.role,
    update.ts,
    update.seq,
    update.encrypted ? 1 : 0,
  );
  return wrote(cursor);
}

/**
 * Applies the events not applied yet (seq above applied_seq) and returns them. Messages
 * from others become unread; the user's own message moves their read watermark to it
 * (they have seen everything up to what they wrote).
 */
export function applyEvents(sql: SqlStorage, userId: string, update: EventsUpdate): ConversationEvent[] {
  const first = update.events[0];
  if (!first) return [];
  // The row exists but for a conversation's first events: look before writing.
  let row = getRow(sql, update.conversationId);
  if (!row) {
    ensureRow(sql, update.conversationId, update.conversationKind, first.ts);
    row = getRow(sql, update.conversationId)!;
  }
  const fresh = update.events.filter((e) => e.seq > row.applied_seq);
  const last = fresh.at(-1);
  if (!last) return [];
  let readSeq = row.read_seq;
  // Parsed once and kept as an object across the events; written back only when one changed it.
  let shown = row.preview === null ? null : (JSON.parse(row.preview) as MessagePreview | null);
  let previewChanged = false;
  const unread = JSON.parse(row.unread) as number[];
  for (const event of fresh) {
    if (event.type === 'message_deleted' && shown?.seq === event.targetSeq) {
      shown = deletedPreview(shown.seq, shown.authorId);
      previewChanged = true;
    }
    // The list shows the previewed message as it reads now: an edit of it replaces its text.
    if (event.type === 'message_edited' && event.content && shown?.seq === event.targetSeq) {
      shown = previewOf({ seq: shown.seq, author: { userId: shown.authorId, deviceId: '' }, content: event.content }, INBOX.maxPreviewLength);
      previewChanged = true;
    }
    // A message hidden for the user (a blocked author's) neither previews nor counts; one
    // deleted before it reached them previews as deleted (as it would had it come first) but does not count.
    if (event.type !== 'message' || event.hidden) continue;
    shown = previewOf(event, INBOX.maxPreviewLength);
    previewChanged = true;
    if (event.deleted) continue;
    if (event.author.userId === userId) readSeq = Math.max(readSeq, event.seq);
    else if (event.seq > readSeq) unread.push(event.seq);
  }
  const preview = previewChanged ? JSON.stringify(shown) : row.preview;
  sql.exec(
    `UPDATE conversations SET applied_seq = ?, last_seq = max(last_seq, ?), last_activity_at = ?, preview = ?, read_seq = ?, unread = ?, fanout = 'write'
     WHERE conversation_id = ?`,
    last.seq,
    last.seq,
    last.ts,
    preview,
    readSeq,
    JSON.stringify(keepUnread(unread, readSeq)),
    update.conversationId,
  );
  return fresh;
}

/** A coalesced hint from a large conversation; true when it moved last_seq forward. */
export function applyActivity(sql: SqlStorage, update: ActivityUpdate): boolean {
  ensureRow(sql, update.conversationId, update.conversationKind, update.ts);
  const cursor = sql.exec(
    `UPDATE conversations SET last_seq = ?, last_activity_at = ?, fanout = 'read' WHERE conversation_id = ? AND last_seq < ?`,
    update.seq,
    update.ts,
    update.conversationId,
    update.seq,
  );
  return wrote(cursor);
}

/** Moves the read watermark forward (never back) and drops what it passed from unread. */
export function applyRead(sql: SqlStorage, update: ReadUpdate): void {
  const row = getRow(sql, update.conversationId);
  if (!row || update.seq <= row.read_seq) return;
  const unread = keepUnread(JSON.parse(row.unread) as number[], update.seq);
  sql.exec('UPDATE conversations SET read_seq = ?, unread = ? WHERE conversation_id = ?', update.seq, JSON.stringify(unread), update.conversationId);
}

/** The user hid a message for themselves: when the list previews it, the preview moves to what they still see. */
export function applyHidden(sql: SqlStorage, update: HiddenUpdate): void {
  if (update.preview === undefined) return;
  const row = getRow(sql, update.conversationId);
  const shown = row?.preview ? (JSON.parse(row.preview) as MessagePreview | null) : null;
  if (shown?.seq !== update.seq) return;
  sql.exec('UPDATE conversations SET preview = ? WHERE conversation_id = ?', JSON.stringify(update.preview), update.conversationId);
}

/**
 * The unread seqs after `readSeq`, the newest INBOX.maxUnreadCount of them: the count
 * shown stops there, and a read watermark never moves back, so the count stays exact up
 * to that bound. Kept in the conversation's row, so a fan-out pass writes one row per
 * member whatever the number of messages it carries.
 */
function keepUnread(seqs: number[], readSeq: number): number[] {
  const after = seqs.filter((seq) => seq > readSeq);
  return after.length > INBOX.maxUnreadCount ? after.slice(-INBOX.maxUnreadCount) : after;
}

/**
 * Delivered receipts start here: `seq` of this conversation reached (was acknowledged by)
 * at least one of the user's devices. Returns the new watermark when it moved, so the
 * caller can tell the ConversationDO (`markDelivered`).
 */
export function recordDelivered(sql: SqlStorage, conversationId: string, seq: number): number | null {
  const cursor = sql.exec('UPDATE conversations SET delivered_seq = ? WHERE conversation_id = ? AND delivered_seq < ?', seq, conversationId, seq);
  return wrote(cursor) ? seq : null;
}

/** The user's current conversations, most recent activity first. */
export function list(sql: SqlStorage): ListedConversation[] {
  return sql
    .exec<ConversationRow>(
      `SELECT * FROM conversations WHERE role IS NOT NULL
       ORDER BY coalesce(last_activity_at, joined_at) DESC, conversation_id`,
    )
    .toArray()
    .map((row) => ({
      onRead: row.fanout === 'read',
      summary: {
        id: row.conversation_id,
        kind: row.kind,
        title: row.title,
        role: row.role as Role,
        joinedAt: row.joined_at,
        peerId: row.peer_id,
        lastSeq: row.last_seq,
        lastActivityAt: row.last_activity_at ?? row.joined_at,
        preview: row.preview ? (JSON.parse(row.preview) as MessagePreview | null) : null,
        unreadCount: keepUnread(JSON.parse(row.unread) as number[], row.read_seq).length,
        readSeq: row.read_seq,
        encrypted: row.encrypted === 1,
      },
    }));
}

/** Sorts summaries by last activity, newest first (after fan-out-on-read rows were refreshed). */
export function byActivity(a: ConversationSummary, b: ConversationSummary): number {
  return b.lastActivityAt - a.lastActivityAt || a.id.localeCompare(b.id);
}

/** Whether a write statement changed a row (the count is final once the cursor is consumed). */
function wrote(cursor: SqlStorageCursor<Record<string, SqlStorageValue>>): boolean {
  cursor.toArray();
  return cursor.rowsWritten > 0;
}

function ensureRow(sql: SqlStorage, conversationId: string, kind: string, ts: number): void {
  // Events can arrive before the membership update that introduces the conversation
  // (they travel separately); the row waits, hidden (role NULL), for it.
  sql.exec(
    `INSERT INTO conversations (conversation_id, kind, title, peer_id, role, joined_at, membership_seq)
     VALUES (?, ?, NULL, NULL, NULL, ?, -1) ON CONFLICT (conversation_id) DO NOTHING`,
    conversationId,
    kind,
    ts,
  );
}

function getRow(sql: SqlStorage, conversationId: string): ConversationRow | undefined {
  return sql.exec<ConversationRow>('SELECT * FROM conversations WHERE conversation_id = ?', conversationId).toArray()[0];
}

/** What a notification about this conversation may say of it: its kind and group title, and whether it is end-to-end encrypted (then: nothing). */
export function describe(sql: SqlStorage, conversationId: string): { kind: 'direct' | 'group'; title: string | null; encrypted: boolean } | null {
  const row = getRow(sql, conversationId);
  return row ? { kind: row.kind, title: row.title, encrypted: row.encrypted === 1 } : null;
}
