/**
 * @module conversation/blocks
 * Blocks as a conversation needs them, synchronously on its send path: which member
 * blocked which. The UserDO owns each user's block list; the route that changes it also
 * tells the direct conversation of the two users (whose id follows from theirs).
 */

export function set(sql: SqlStorage, blockerId: string, blockedId: string, on: boolean): void {
  if (on) sql.exec('INSERT OR IGNORE INTO blocks (blocker_id, blocked_id) VALUES (?, ?)', blockerId, blockedId);
  else sql.exec('DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?', blockerId, blockedId);
}

export function has(sql: SqlStorage, blockerId: string, blockedId: string): boolean {
  return sql.exec('SELECT 1 FROM blocks WHERE blocker_id = ? AND blocked_id = ?', blockerId, blockedId).toArray().length > 0;
}

/** Whether anyone here blocked `userId` (in a direct conversation: the other member). */
export function isBlockedByAnyone(sql: SqlStorage, userId: string): boolean {
  return sql.exec('SELECT 1 FROM blocks WHERE blocked_id = ? AND blocker_id != ? LIMIT 1', userId, userId).toArray().length > 0;
}
