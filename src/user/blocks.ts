/**
 * @module user/blocks
 * The users one user blocked. The UserDO owns the list; conversations get the part they
 * enforce (src/conversation/blocks.ts) from the route that changes it.
 */
import { AppError } from '../errors.js';
import { MODERATION } from '../limits.js';

export function block(sql: SqlStorage, userId: string, now: number): void {
  const count = sql.exec<{ n: number }>('SELECT count(*) AS n FROM blocks').one().n;
  if (count >= MODERATION.maxBlocks && !isBlocked(sql, userId)) {
    throw new AppError('forbidden', `At most ${MODERATION.maxBlocks} users can be blocked.`);
  }
  sql.exec('INSERT OR IGNORE INTO blocks (user_id, blocked_at) VALUES (?, ?)', userId, now);
}

export function unblock(sql: SqlStorage, userId: string): boolean {
  return sql.exec('DELETE FROM blocks WHERE user_id = ?', userId).rowsWritten > 0;
}

export function isBlocked(sql: SqlStorage, userId: string): boolean {
  return sql.exec('SELECT 1 FROM blocks WHERE user_id = ?', userId).toArray().length > 0;
}

export function list(sql: SqlStorage): { userId: string; blockedAt: number }[] {
  return sql
    .exec<{ user_id: string; blocked_at: number }>('SELECT user_id, blocked_at FROM blocks ORDER BY blocked_at, user_id')
    .toArray()
    .map((r) => ({ userId: r.user_id, blockedAt: r.blocked_at }));
}
