/**
 * @module conversation/outbox
 * The durable outbox: updates for members' UserDOs are written in the same transaction
 * as the event that caused them, then delivered by `drain` (right away, and from the
 * alarm after an eviction or a failed call). Delivery is at least once; receivers
 * deduplicate by (conversation, seq).
 */
import type { UserUpdate } from '../user/updates.js';
import { fact, type ConversationStore } from './store.js';

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
 * When the earliest update is due, or null when the outbox is empty: every send's drain
 * asks, and the outbox (membership changes only) is almost always empty, so it is kept as
 * a fact of the store rather than queried each time.
 */
export const NEXT_DUE = fact<number | null>('outbox.nextDue', (sql) => sql.exec<{ at: number | null }>('SELECT min(next_attempt_at) AS at FROM outbox').one().at);

export function enqueue(store: ConversationStore, userId: string, update: UserUpdate, now: number): void {
  store.sql.exec('INSERT INTO outbox (user_id, payload, next_attempt_at) VALUES (?, ?, ?)', userId, JSON.stringify(update), now);
  const due = store.get(NEXT_DUE);
  store.set(NEXT_DUE, due === null ? now : Math.min(due, now));
}

export function due(store: ConversationStore, now: number, limit: number = OUTBOX.batchSize): OutboxItem[] {
  const next = store.get(NEXT_DUE);
  if (next === null || next > now) return [];
  return store.sql
    .exec<OutboxRow>('SELECT id, user_id, payload, attempts FROM outbox WHERE next_attempt_at <= ? ORDER BY id LIMIT ?', now, limit)
    .toArray()
    .map((row) => ({ id: row.id, userId: row.user_id, update: JSON.parse(row.payload) as UserUpdate, attempts: row.attempts }));
}

export function remove(store: ConversationStore, ids: number[]): void {
  for (const id of ids) store.sql.exec('DELETE FROM outbox WHERE id = ?', id);
  store.forget(NEXT_DUE);
}

export function postpone(store: ConversationStore, ids: number[], attempts: number, now: number): number {
  const delay = Math.min(OUTBOX.retryDelayMs * 2 ** attempts, OUTBOX.maxRetryDelayMs);
  for (const id of ids) store.sql.exec('UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?', now + delay, id);
  store.forget(NEXT_DUE);
  return now + delay;
}

/** When the alarm should next run, or null when nothing is waiting. */
export function nextDue(store: ConversationStore): number | null {
  return store.get(NEXT_DUE);
}

/** How many updates wait (for the queue-depth metric): none without a SQL read when nothing is due. */
export function depth(store: ConversationStore): number {
  return nextDue(store) === null ? 0 : store.sql.exec<{ n: number }>('SELECT count(*) AS n FROM outbox').one().n;
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
