/**
 * @module conversation/outbox
 * The durable outbox: updates for members' UserDOs are written in the same transaction
 * as the event that caused them, then delivered by `drain` (right away, and from the
 * alarm after an eviction or a failed call). Delivery is at least once; receivers
 * deduplicate by (conversation, seq).
 */
import type { UserUpdate } from '../user/updates.js';

export const OUTBOX = {
  /** Most updates taken per drain pass. */
  batchSize: 500,
  /** Retry delays grow from this, doubling up to maxRetryDelayMs. */
  retryDelayMs: 1_000,
  maxRetryDelayMs: 5 * 60 * 1000,
} as const;

interface OutboxRow {
  id: number;
  user_id: string;
  payload: string;
  attempts: number;
  [key: string]: SqlStorageValue;
}

export interface OutboxItem {
  id: number;
  userId: string;
  update: UserUpdate;
  attempts: number;
}

/**
 * Known to be empty, per object instance: every send's drain asks what is due, and the
 * outbox (membership changes only) is almost always empty. This module is its only
 * writer; `enqueue` and a rolled-back write (`forget`) make it unknown again.
 */
const knownEmpty = new WeakMap<SqlStorage, true>();

export function forget(sql: SqlStorage): void {
  knownEmpty.delete(sql);
}

export function enqueue(sql: SqlStorage, userId: string, update: UserUpdate, now: number): void {
  knownEmpty.delete(sql);
  sql.exec('INSERT INTO outbox (user_id, payload, next_attempt_at) VALUES (?, ?, ?)', userId, JSON.stringify(update), now);
}

export function due(sql: SqlStorage, now: number, limit: number = OUTBOX.batchSize): OutboxItem[] {
  if (knownEmpty.has(sql)) return [];
  return sql
    .exec<OutboxRow>('SELECT id, user_id, payload, attempts FROM outbox WHERE next_attempt_at <= ? ORDER BY id LIMIT ?', now, limit)
    .toArray()
    .map((row) => ({ id: row.id, userId: row.user_id, update: JSON.parse(row.payload) as UserUpdate, attempts: row.attempts }));
}

export function remove(sql: SqlStorage, ids: number[]): void {
  for (const id of ids) sql.exec('DELETE FROM outbox WHERE id = ?', id);
}

export function postpone(sql: SqlStorage, ids: number[], attempts: number, now: number): number {
  const delay = Math.min(OUTBOX.retryDelayMs * 2 ** attempts, OUTBOX.maxRetryDelayMs);
  for (const id of ids) sql.exec('UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?', now + delay, id);
  return now + delay;
}

/** When the alarm should next run, or null when nothing is waiting. */
export function nextDue(sql: SqlStorage): number | null {
  if (knownEmpty.has(sql)) return null;
  const at = sql.exec<{ at: number | null }>('SELECT min(next_attempt_at) AS at FROM outbox').one().at;
  if (at === null) knownEmpty.set(sql, true);
  return at;
}

/** Groups items by user, keeping each user's updates in order. */
export function byUser(items: OutboxItem[]): Map<string, OutboxItem[]> {
  const groups = new Map<string, OutboxItem[]>();
  for (const item of items) {
    const list = groups.get(item.userId);
    if (list) list.push(item);
    else groups.set(item.userId, [item]);
  }
  return groups;
}
