/**
 * @module conversation/blocks
 * Blocks as a conversation needs them, synchronously on its send path: which member
 * blocked which. The UserDO owns each user's block list; the route that changes it also
 * tells the direct conversation of the two users (whose id follows from theirs).
 *
 * The rows (a handful at most) are read once per object instance and kept, like the
 * last seq in ./log.ts: `set` is the only writer, so every send checks memory, not SQL.
 */

interface Block {
  blocker: string;
  blocked: string;
}

const cached = new WeakMap<SqlStorage, Block[]>();

function all(sql: SqlStorage): Block[] {
  let rows = cached.get(sql);
  if (!rows) {
    rows = sql.exec<{ blocker_id: string; blocked_id: string }>('SELECT blocker_id, blocked_id FROM blocks').toArray().map((r) => ({ blocker: r.blocker_id, blocked: r.blocked_id }));
    cached.set(sql, rows);
  }
  return rows;
}

/** Replaces everything `blockerId` blocks with `blockedIds`. */
export function replace(sql: SqlStorage, blockerId: string, blockedIds: readonly string[]): void {
  cached.delete(sql);
  sql.exec('DELETE FROM blocks WHERE blocker_id = ?', blockerId);
  for (const id of new Set(blockedIds)) sql.exec('INSERT INTO blocks (blocker_id, blocked_id) VALUES (?, ?)', blockerId, id);
}

export function has(sql: SqlStorage, blockerId: string, blockedId: string): boolean {
  return all(sql).some((b) => b.blocker === blockerId && b.blocked === blockedId);
}

/** Whether anyone here blocked `userId` (in a direct conversation: the other member). */
export function isBlockedByAnyone(sql: SqlStorage, userId: string): boolean {
  return all(sql).some((b) => b.blocked === userId && b.blocker !== userId);
}
