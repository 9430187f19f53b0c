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
    // v2: media uploaded to this conversation (registered when an upload completes), so the
    // send path can check a reference synchronously and downloads can be authorised here.
    // info: the MediaInfo JSON clients render. A deleted item keeps a tombstone row.
    `CREATE TABLE media (
       media_id       TEXT PRIMARY KEY,
       uploader_id    TEXT NOT NULL,
       info           TEXT NOT NULL,
       registered_at  INTEGER NOT NULL,
       referenced_seq INTEGER,
       deleted_at     INTEGER
     )`,
  ],
  [
    // v3: receipts, message lifecycle and search.
    //
    // Receipt watermarks: one row per member, updated in place, so a read costs one row
    // whatever the number of messages. shown_read_seq is what others see (it stays put
    // while private_reads is on). dirty_since marks a change not yet pushed to windows;
    // the pending flush is recomputed from it after an eviction.
    `CREATE TABLE receipts (
       user_id        TEXT PRIMARY KEY,
       delivered_seq  INTEGER NOT NULL DEFAULT 0,
       read_seq       INTEGER NOT NULL DEFAULT 0,
       shown_read_seq INTEGER NOT NULL DEFAULT 0,
       private_reads  INTEGER NOT NULL DEFAULT 0,
       dirty_since    INTEGER
     )`,
    `CREATE INDEX receipts_dirty ON receipts (dirty_since) WHERE dirty_since IS NOT NULL`,
    // When each watermark first passed each seq: one row per move (moves within
    // RECEIPTS.historyResolutionMs share a row), covering seqs (from_seq, to_seq].
    `CREATE TABLE receipt_history (
       user_id  TEXT NOT NULL,
       kind     TEXT NOT NULL,
       from_seq INTEGER NOT NULL,
       to_seq   INTEGER NOT NULL,
       first_at INTEGER NOT NULL,
       PRIMARY KEY (user_id, kind, to_seq)
     )`,
    // Lifecycle state of messages that were edited or deleted (only those have a row).
    // purge_at: a moderated message's content is erased then.
    `CREATE TABLE message_state (
       seq           INTEGER PRIMARY KEY,
       last_edit_seq INTEGER,
       edited_at     INTEGER,
       deleted_scope TEXT,
       deleted_seq   INTEGER,
       deleted_at    INTEGER,
       deleted_by    TEXT,
       purge_at      INTEGER
     )`,
    `CREATE INDEX message_state_purge ON message_state (purge_at) WHERE purge_at IS NOT NULL`,
    // Delete for me: hidden for one user only.
    `CREATE TABLE hidden_messages (
       user_id   TEXT NOT NULL,
       seq       INTEGER NOT NULL,
       hidden_at INTEGER NOT NULL,
       PRIMARY KEY (user_id, seq)
     )`,
    // Current reactions: a set per (message, user).
    `CREATE TABLE reactions (
       seq        INTEGER NOT NULL,
       user_id    TEXT NOT NULL,
       emoji      TEXT NOT NULL,
       reacted_at INTEGER NOT NULL,
       PRIMARY KEY (seq, user_id, emoji)
     )`,
    // Edit events by the message they edit (edit history, erasure on delete).
    `CREATE INDEX events_by_edit_target ON events (json_extract(body, '$.targetSeq')) WHERE type = 'message_edited'`,
    // Full-text index of current message text, rowid = seq. Contentless: it keeps only
    // tokens, never a copy of the text; removing a row takes the text it was indexed with.
    // secure-delete removes a deleted message's tokens from the index at once instead of
    // leaving them until a merge, so erased text is not left behind in the index.
    `CREATE VIRTUAL TABLE message_fts USING fts5(text, content='', tokenize='unicode61 remove_diacritics 2')`,
    `INSERT INTO message_fts (message_fts, rank) VALUES ('secure-delete', 1)`,
  ],
  [
    // v4: fan-out of events to members (src/conversation/fanout.ts): the log is the outbox,
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
  [
    // v5: abuse control (src/conversation/allowance.ts, ./blocks.ts). The per-conversation
    // message limit and the lease reports read a sender's recent messages from the log.
    `CREATE INDEX events_by_author_ts ON events (author_user, ts) WHERE type = 'message'`,
    // Blocks between members that this conversation enforces (direct conversations).
    `CREATE TABLE blocks (
       blocker_id TEXT NOT NULL,
       blocked_id TEXT NOT NULL,
       PRIMARY KEY (blocker_id, blocked_id)
     ) WITHOUT ROWID`,
  ],
  [
    // v6: search indexing off the send path (src/conversation/search.ts): messages up to
    // indexed_upto are in message_fts. Earlier versions indexed on send, so every message
    // stored so far is indexed already.
    `CREATE TABLE search_state (
       id           INTEGER PRIMARY KEY CHECK (id = 1),
       indexed_upto INTEGER NOT NULL
     )`,
    `INSERT INTO search_state (id, indexed_upto) SELECT 1, coalesce(max(seq), 0) FROM events`,
  ],
  [
    // v7: a sender's recent messages are found by seq (ts never decreases along the log,
    // so a time window is a range of seqs: log.firstSeqAfter). The index by time cost
    // every insert a row written more (billed) and a page more to commit.
    `DROP INDEX events_by_author_ts`,
  ],
  [
    // v8: every member's block list (src/conversation/blocks.ts), not only the pair of a
    // direct conversation; block_lists says whose list this conversation has been given,
    // so a member whose list it never got (memberships older than this version) is asked
    // once, when they open a chat window.
    `CREATE TABLE block_lists (user_id TEXT PRIMARY KEY) WITHOUT ROWID`,
  ],
  [
    // v9: the relays that hold this conversation's live readers (src/conversation/relays.ts):
    // how full each is, and when one whose call failed is tried again.
    `CREATE TABLE relays (
       idx      INTEGER PRIMARY KEY,
       sockets  INTEGER NOT NULL,
       attempts INTEGER NOT NULL DEFAULT 0,
       retry_at INTEGER
     )`,
  ],
  [
    // v10: members in join order, paged (src/conversation/members.ts): a channel's list is
    // read a page at a time, never whole; its activity hints go out a page per pass, from
    // where the round has got to (src/conversation/fanout.ts).
    `CREATE INDEX members_by_join ON members (joined_at, user_id)`,
    `ALTER TABLE fanout_state ADD COLUMN hint_after_joined_at INTEGER`,
    `ALTER TABLE fanout_state ADD COLUMN hint_after_user_id TEXT`,
  ],
];
