/**
 * @module conversation/receipts
 * Delivered and read receipts as per-member watermarks. A member reading up to seq s is
 * one row update, however many messages that covers; "read by k of n" for a message is
 * counted from the watermarks. The time each watermark first passed a seq is kept as one
 * history row per move (not per message), for the detail call. Changes are marked dirty
 * and pushed to open windows in coalesced frames; the dirty marks are in SQLite, so a
 * flush pending at an eviction is recomputed from them.
 */
import { AppError } from '../errors.js';
import { fact, type ConversationStore } from './store.js';
import { LIMITS, type Member, type ReceiptDetail, type Watermark } from '../protocol/index.js';
import { RECEIPTS } from '../limits.js';

interface ReceiptRow {
  user_id: string;
  delivered_seq: number;
  read_seq: number;
  shown_read_seq: number;
  private_reads: number;
  [key: string]: SqlStorageValue;
}

export interface OwnReceipts {
  deliveredSeq: number;
  /** The member's own read position (private reads included). */
  readSeq: number;
  /** What others see of it. */
  shownReadSeq: number;
  privateReads: boolean;
}

export interface Move {
  own: OwnReceipts;
  /** The member's own read position moved: their unread count changes. */
  readMoved: boolean;
  /** Something others see moved: a receipts frame is due. */
  visibleMoved: boolean;
}

type Kind = 'delivered' | 'read';

export function get(sql: SqlStorage, userId: string): OwnReceipts {
  const row = sql.exec<ReceiptRow>('SELECT * FROM receipts WHERE user_id = ?', userId).toArray()[0];
  return row
    ? { deliveredSeq: row.delivered_seq, readSeq: row.read_seq, shownReadSeq: row.shown_read_seq, privateReads: row.private_reads === 1 }
    : { deliveredSeq: 0, readSeq: 0, shownReadSeq: 0, privateReads: false };
}

function checkRange(seq: number, lastSeq: number): void {
  if (seq > lastSeq) throw new AppError('seq_out_of_range', `seq ${seq} is past the last seq of this conversation (${lastSeq}).`);
}

/** One of the member's devices has everything up to `seq`. Never moves backwards. */
export function markDelivered(store: ConversationStore, userId: string, seq: number, lastSeq: number, now: number): Move {
  checkRange(seq, lastSeq);
  const before = get(store.sql, userId);
  return save(store, userId, before, { ...before, deliveredSeq: Math.max(before.deliveredSeq, seq) }, now);
}

/** The member has seen everything up to `seq`; reading implies delivery. Never moves backwards. */
export function markRead(store: ConversationStore, userId: string, seq: number, lastSeq: number, now: number): Move {
  checkRange(seq, lastSeq);
  const before = get(store.sql, userId);
  const readSeq = Math.max(before.readSeq, seq);
  const after: OwnReceipts = {
    ...before,
    readSeq,
    deliveredSeq: Math.max(before.deliveredSeq, readSeq),
    shownReadSeq: before.privateReads ? before.shownReadSeq : readSeq,
  };
  return save(store, userId, before, after, now);
}

/** Private reads: later reads still move the member's own position but not what others see. */
export function setPrivateReads(sql: SqlStorage, userId: string, on: boolean): OwnReceipts {
  sql.exec(
    `INSERT INTO receipts (user_id, private_reads) VALUES (?, ?)
     ON CONFLICT (user_id) DO UPDATE SET private_reads = excluded.private_reads`,
    userId,
    on ? 1 : 0,
  );
  return get(sql, userId);
}

function save(store: ConversationStore, userId: string, before: OwnReceipts, after: OwnReceipts, now: number): Move {
  const { sql } = store;
  const deliveredMoved = after.deliveredSeq > before.deliveredSeq;
  const shownMoved = after.shownReadSeq > before.shownReadSeq;
  const readMoved = after.readSeq > before.readSeq;
  const visibleMoved = deliveredMoved || shownMoved;
  if (readMoved || visibleMoved) {
    sql.exec(
      `INSERT INTO receipts (user_id, delivered_seq, read_seq, shown_read_seq, private_reads, dirty_since)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6)
       ON CONFLICT (user_id) DO UPDATE SET
         delivered_seq = ?2, read_seq = ?3, shown_read_seq = ?4,
         dirty_since = CASE WHEN ?6 IS NULL THEN receipts.dirty_since ELSE coalesce(receipts.dirty_since, ?6) END`,
      userId,
      after.deliveredSeq,
      after.readSeq,
      after.shownReadSeq,
      after.privateReads ? 1 : 0,
      visibleMoved ? now : null,
    );
    if (visibleMoved && store.get(FLUSH_DUE) === null) store.set(FLUSH_DUE, now + RECEIPTS.flushIntervalMs);
  }
  if (deliveredMoved) record(sql, userId, 'delivered', before.deliveredSeq, after.deliveredSeq, now);
  if (shownMoved) record(sql, userId, 'read', before.shownReadSeq, after.shownReadSeq, now);
  return { own: after, readMoved, visibleMoved };
}

/** Notes that a watermark moved from `from` to `to` at `now`: extends the last row if it is recent. */
function record(sql: SqlStorage, userId: string, kind: Kind, from: number, to: number, now: number): void {
  const last = sql
    .exec<{ to_seq: number; first_at: number }>(
      'SELECT to_seq, first_at FROM receipt_history WHERE user_id = ? AND kind = ? ORDER BY to_seq DESC LIMIT 1',
      userId,
      kind,
    )
    .toArray()[0];
  if (last && last.to_seq === from && now - last.first_at < RECEIPTS.historyResolutionMs) {
    sql.exec('UPDATE receipt_history SET to_seq = ? WHERE user_id = ? AND kind = ? AND to_seq = ?', to, userId, kind, from);
  } else {
    sql.exec('INSERT INTO receipt_history (user_id, kind, from_seq, to_seq, first_at) VALUES (?, ?, ?, ?, ?)', userId, kind, from, to, now);
  }
}

/** When the member's watermark of `kind` first passed `seq`, or null. */
function passedAt(sql: SqlStorage, userId: string, kind: Kind, seq: number): number | null {
  const row = sql
    .exec<{ from_seq: number; first_at: number }>(
      'SELECT from_seq, first_at FROM receipt_history WHERE user_id = ? AND kind = ? AND to_seq >= ? ORDER BY to_seq LIMIT 1',
      userId,
      kind,
      seq,
    )
    .toArray()[0];
  return row && row.from_seq < seq ? row.first_at : null;
}

/** The watermarks of `members` as `viewerId` may see them (their own read position in full). */
export function overview(sql: SqlStorage, members: Member[], viewerId: string): Watermark[] {
  return members.map((m) => {
    const r = get(sql, m.userId);
    return { userId: m.userId, deliveredSeq: r.deliveredSeq, readSeq: m.userId === viewerId ? r.readSeq : r.shownReadSeq };
  });
}

/**
 * Status and per-recipient times of one message (sent by `authorId` at `sentAt`). The
 * counts cover every recipient, counted in SQLite; the per-recipient rows are the first
 * LIMITS.maxListedMembers recipients in join order (all of them in any group but a channel).
 */
export function detail(sql: SqlStorage, message: { seq: number; authorId: string; sentAt: number }): ReceiptDetail {
  const recipientsOf = 'FROM members m LEFT JOIN receipts r ON r.user_id = m.user_id WHERE m.user_id != ? AND m.joined_at <= ?';
  const counts = sql
    .exec<{ recipients: number; delivered: number | null; read: number | null }>(
      `SELECT count(*) AS recipients, sum(coalesce(r.delivered_seq, 0) >= ?) AS delivered, sum(coalesce(r.shown_read_seq, 0) >= ?) AS read ${recipientsOf}`,
      message.seq,
      message.seq,
      message.authorId,
      message.sentAt,
    )
    .one();
  const listed = sql
    .exec<{ user_id: string }>(`SELECT m.user_id ${recipientsOf} ORDER BY m.joined_at, m.user_id LIMIT ?`, message.authorId, message.sentAt, LIMITS.maxListedMembers)
    .toArray();
  const rows = listed.map(({ user_id: userId }) => {
    const r = get(sql, userId);
    return {
      userId,
      deliveredAt: r.deliveredSeq >= message.seq ? passedAt(sql, userId, 'delivered', message.seq) : null,
      readAt: r.shownReadSeq >= message.seq ? passedAt(sql, userId, 'read', message.seq) : null,
    };
  });
  const [delivered, read] = [counts.delivered ?? 0, counts.read ?? 0];
  return { seq: message.seq, status: status(counts.recipients, delivered, read), recipients: counts.recipients, delivered, read, members: rows };
}

/** WhatsApp's rule: delivered when every recipient has it, read when every recipient read it. */
export function status(recipients: number, delivered: number, read: number): ReceiptDetail['status'] {
  if (recipients > 0 && read === recipients) return 'read';
  if (recipients > 0 && delivered === recipients) return 'delivered';
  return 'sent';
}

/** When the pending receipts frame is due, or null when nothing changed. */
/** When the watermarks that moved are next pushed to the windows, or null: asked by every wake-up, so a fact of the store. */
export const FLUSH_DUE = fact<number | null>('receipts.flushDue', (sql) => {
  const since = sql.exec<{ since: number | null }>('SELECT min(dirty_since) AS since FROM receipts WHERE dirty_since IS NOT NULL').one().since;
  return since === null ? null : since + RECEIPTS.flushIntervalMs;
});

export function flushDue(store: ConversationStore): number | null {
  return store.get(FLUSH_DUE);
}

/** The watermarks that changed since the last flush, clearing the marks. */
export function takeChanged(store: ConversationStore): Watermark[] {
  const { sql } = store;
  const rows = sql.exec<ReceiptRow>('SELECT * FROM receipts WHERE dirty_since IS NOT NULL ORDER BY user_id').toArray();
  sql.exec('UPDATE receipts SET dirty_since = NULL WHERE dirty_since IS NOT NULL');
  store.set(FLUSH_DUE, null);
  return rows.map((r) => ({ userId: r.user_id, deliveredSeq: r.delivered_seq, readSeq: r.shown_read_seq }));
}
