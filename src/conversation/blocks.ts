/**
 * @module conversation/blocks
 * Every member's block list, as their UserDO last said (`setBlocks`): the conversation
 * applies it synchronously on its send path (a blocked user may not write to the blocker
 * in a direct conversation) and wherever it renders events for a reader (src/conversation/
 * visibility.ts: a blocker does not see the blocked user's messages, reactions or typing).
 * Kept in memory as a fact of the store: every broadcast asks.
 */
import { AppError } from '../errors.js';
import { fact, type ConversationStore } from './store.js';
import { memberIds } from './members.js';
import type { Meta } from './meta.js';

/** Blocker → the users they block. */
export const BLOCKS = fact<Map<string, Set<string>>>('blocks', (sql) => {
  const map = new Map<string, Set<string>>();
  for (const row of sql.exec<{ blocker_id: string; blocked_id: string }>('SELECT blocker_id, blocked_id FROM blocks')) {
    const set = map.get(row.blocker_id) ?? new Set<string>();
    set.add(row.blocked_id);
    map.set(row.blocker_id, set);
  }
  return map;
});

/** The users whose whole list this conversation was given. */
export const KNOWN_LISTS = fact<Set<string>>('blocks.known', (sql) => new Set(sql.exec<{ user_id: string }>('SELECT user_id FROM block_lists').toArray().map((r) => r.user_id)));

/** Replaces everything `blockerId` blocks with `blockedIds`. */
export function replace(store: ConversationStore, blockerId: string, blockedIds: readonly string[]): void {
  store.sql.exec('DELETE FROM blocks WHERE blocker_id = ?', blockerId);
  const unique = new Set(blockedIds);
  for (const id of unique) store.sql.exec('INSERT INTO blocks (blocker_id, blocked_id) VALUES (?, ?)', blockerId, id);
  store.sql.exec('INSERT OR IGNORE INTO block_lists (user_id) VALUES (?)', blockerId);
  const map = store.get(BLOCKS);
  if (unique.size > 0) map.set(blockerId, unique);
  else map.delete(blockerId);
  store.get(KNOWN_LISTS).add(blockerId);
}

/** Whether this conversation was ever given `userId`'s list. */
export function isKnown(store: ConversationStore, userId: string): boolean {
  return store.get(KNOWN_LISTS).has(userId);
}

/** Whether `blockerId` blocks `blockedId`. */
export function has(store: ConversationStore, blockerId: string, blockedId: string): boolean {
  return store.get(BLOCKS).get(blockerId)?.has(blockedId) ?? false;
}

/** Who `userId` blocks (empty when nobody). */
export function blockedBy(store: ConversationStore, userId: string): ReadonlySet<string> {
  return store.get(BLOCKS).get(userId) ?? EMPTY;
}

/** Whether any member blocks anyone: when not, every reader sees the same events (the common case). */
export function anyBlocks(store: ConversationStore): boolean {
  return store.get(BLOCKS).size > 0;
}

const EMPTY: ReadonlySet<string> = new Set();

/**
 * In a direct conversation, a user the other member blocked may not write at all (send,
 * edit, react): the conversation is only the two of them. In groups they may, and the
 * blocker does not see it (./visibility.ts).
 */
export function assertMayWrite(store: ConversationStore, meta: Meta, userId: string): void {
  if (meta.kind !== 'direct') return;
  for (const other of memberIds(store)) {
    if (other !== userId && has(store, other, userId)) throw new AppError('forbidden', 'You cannot message this user.');
  }
}
