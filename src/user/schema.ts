/**
 * @module user/schema
 * The UserDO's SQLite schema, one entry per version. Append-only.
 */
import type { Migration } from '../storage/migrate.js';

export const USER_MIGRATIONS: readonly Migration[] = [
  [
    // The user's conversations. membership_seq is the conversation seq of the last
    // membership update applied: older or repeated updates are ignored.
    `CREATE TABLE conversations (
       conversation_id TEXT PRIMARY KEY,
       kind            TEXT NOT NULL,
       title           TEXT,
       peer_id         TEXT,
       role            TEXT,
       joined_at       INTEGER NOT NULL,
       membership_seq  INTEGER NOT NULL
     )`,
  ],
];
