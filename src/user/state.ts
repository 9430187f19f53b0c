/**
 * @module user/state
 * Small named integers kept in the UserDO's `state` table.
 */

export type StateKey =
  | 'last_cursor'
  | 'trimmed_through'
  | 'online'
  | 'last_seen_at'
  | 'relayed_online'
  | 'relayed_at'
  | 'relay_pending'
  | 'hide_last_seen'
  /** Bumped by every change to the block list (src/user/outbox.ts). */
  | 'blocks_version'
  /** The key directory's device list version (src/user/keys.ts). */
  | 'devices_version';

export function get(sql: SqlStorage, key: StateKey, fallback = 0): number {
  const row = sql.exec<{ value: number }>('SELECT value FROM state WHERE key = ?', key).toArray()[0];
  return row?.value ?? fallback;
}

export function set(sql: SqlStorage, key: StateKey, value: number): void {
  sql.exec('INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', key, value);
}
