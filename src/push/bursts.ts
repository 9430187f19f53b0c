/**
 * @module push/bursts
 * Coalescing in D1: one open burst per (user, conversation). Opening is one atomic
 * upsert, so of concurrent or retried calls exactly one wins and enqueues.
 */
import { PUSH } from './settings.js';

/**
 * Records `seq` in the user's burst for the conversation. True only for the message that
 * opens a burst (no burst yet, or the last one is older than the collapse window): that
 * one, and only that one, is sent. A seq at or below what the burst already saw (a retried
 * fan-out) changes nothing and returns false.
 */
export async function openBurst(db: D1Database, userId: string, conversationId: string, seq: number, now: number): Promise<boolean> {
  const expired = now - PUSH.collapseWindowMs;
  // Every SET expression reads the row as it was, so the CASEs agree on "expired".
  const row = await db
    .prepare(
      `INSERT INTO push_bursts (user_id, conversation_id, started_at, first_seq, last_seq) VALUES (?1, ?2, ?3, ?4, ?4)
       ON CONFLICT (user_id, conversation_id) DO UPDATE SET
         started_at = CASE WHEN push_bursts.started_at <= ?5 THEN excluded.started_at ELSE push_bursts.started_at END,
         first_seq = CASE WHEN push_bursts.started_at <= ?5 THEN excluded.first_seq ELSE push_bursts.first_seq END,
         last_seq = excluded.last_seq
       WHERE excluded.last_seq > push_bursts.last_seq
       RETURNING first_seq`,
    )
    .bind(userId, conversationId, now, seq, expired)
    .first<{ first_seq: number }>();
  return row?.first_seq === seq;
}

/** Whether the burst a job opened is still the open one: not ended by a device coming online, not superseded. */
export async function isBurstOpen(db: D1Database, userId: string, conversationId: string, firstSeq: number): Promise<boolean> {
  const row = await db
    .prepare('SELECT 1 FROM push_bursts WHERE user_id = ? AND conversation_id = ? AND first_seq = ?')
    .bind(userId, conversationId, firstSeq)
    .first();
  return row !== null;
}

/** Undoes an opened burst whose job could not be enqueued, so the next message tries again. */
export async function dropBurst(db: D1Database, userId: string, conversationId: string, firstSeq: number): Promise<void> {
  await db
    .prepare('DELETE FROM push_bursts WHERE user_id = ? AND conversation_id = ? AND first_seq = ?')
    .bind(userId, conversationId, firstSeq)
    .run();
}

export async function clearBursts(db: D1Database, userId: string): Promise<void> {
  await db.prepare('DELETE FROM push_bursts WHERE user_id = ?').bind(userId).run();
}
