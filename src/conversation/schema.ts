/**
 * @module conversation/schema
 * The ConversationDO's SQLite schema, one entry per version. Append-only.
 */
import type { Migration } from '../storage/migrate.js';

export const CONVERSATION_MIGRATIONS: readonly Migration[] = [
  [
    // id, kind, title, created_at, created_by: written once at creation.
    `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
    `CREATE TABLE members (
       user_id   TEXT PRIMARY KEY,
       role      TEXT NOT NULL,
       joined_at INTEGER NOT NULL
     )`,
    // The event log. seq is the rowid: gap-free because this object is its only writer
    // and assigns last + 1 inside one synchronous write.
    `CREATE TABLE events (
       seq           INTEGER PRIMARY KEY,
       type          TEXT NOT NULL,
       ts            INTEGER NOT NULL,
       author_user   TEXT NOT NULL,
       author_device TEXT NOT NULL,
       cmid          TEXT,
       body          TEXT NOT NULL
     )`,
    // Idempotent sends: one event per (sender, cmid).
    `CREATE UNIQUE INDEX events_by_cmid ON events (author_user, cmid) WHERE cmid IS NOT NULL`,
    // Durable fan-out: work for other objects that must survive eviction. The alarm
    // drains it; receivers apply each item at most once.
    `CREATE TABLE outbox (
       id              INTEGER PRIMARY KEY AUTOINCREMENT,
       user_id         TEXT NOT NULL,
       payload         TEXT NOT NULL,
       attempts        INTEGER NOT NULL DEFAULT 0,
       next_attempt_at INTEGER NOT NULL
     )`,
  ],
  [
    // Fan-out of events to members (src/conversation/fanout.ts): the log is the outbox,
    // done_seq how far it has been fanned out. Events stored before this version were
    // never fanned out and are history, so the watermark starts at the end of the log.
    `CREATE TABLE fanout_state (
       id        INTEGER PRIMARY KEY CHECK (id = 1),
       done_seq  INTEGER NOT NULL,
       hinted_at INTEGER NOT NULL
     )`,
    `INSERT INTO fanout_state (id, done_seq, hinted_at) SELECT 1, coalesce(max(seq), 0), 0 FROM events`,
    // Members whose delivery failed, each with its own cursor, caught up with backoff.
    `CREATE TABLE fanout_lag (
       user_id         TEXT PRIMARY KEY,
       after_seq       INTEGER NOT NULL,
       attempts        INTEGER NOT NULL,
       next_attempt_at INTEGER NOT NULL
     )`,
  ],
];
