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
  [
    // The inbox. applied_seq: the highest event seq applied (events arrive in seq order,
    // so anything at or below it is a retry and is skipped). last_seq may run ahead of it
    // for conversations that fan out on read (fanout = 'read'), which send only hints.
    `ALTER TABLE conversations ADD COLUMN applied_seq INTEGER NOT NULL DEFAULT 0`,
    `ALTER TABLE conversations ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0`,
    `ALTER TABLE conversations ADD COLUMN last_activity_at INTEGER`,
    `ALTER TABLE conversations ADD COLUMN preview TEXT`,
    `ALTER TABLE conversations ADD COLUMN read_seq INTEGER NOT NULL DEFAULT 0`,
    // The highest seq that reached (was acknowledged by) at least one of the user's devices.
    `ALTER TABLE conversations ADD COLUMN delivered_seq INTEGER NOT NULL DEFAULT 0`,
    `ALTER TABLE conversations ADD COLUMN fanout TEXT NOT NULL DEFAULT 'write'`,
    // Seqs of messages from others not yet read, for exact unread counts in conversations
    // that fan out on write. Removed when the read watermark passes them.
    `CREATE TABLE unread (
       conversation_id TEXT NOT NULL,
       seq             INTEGER NOT NULL,
       PRIMARY KEY (conversation_id, seq)
     ) WITHOUT ROWID`,
    // The per-device offline queues, stored once: a device's queue is every row after its
    // own acked_cursor. Rows go when every device has acknowledged them, or by retention;
    // deletions are always a prefix, so the rows are one contiguous cursor range.
    `CREATE TABLE queue (
       cursor          INTEGER PRIMARY KEY,
       conversation_id TEXT NOT NULL,
       seq             INTEGER NOT NULL,
       payload         TEXT NOT NULL,
       created_at      INTEGER NOT NULL
     )`,
    `CREATE TABLE devices (
       device_id     TEXT PRIMARY KEY,
       acked_cursor  INTEGER NOT NULL,
       first_seen_at INTEGER NOT NULL
     )`,
    // Small named values: last_cursor, trimmed_through, presence state, settings.
    `CREATE TABLE state (key TEXT PRIMARY KEY, value INTEGER NOT NULL)`,
    // Conversations with an open chat window that asked for this user's presence.
    `CREATE TABLE presence_subscriptions (
       conversation_id TEXT PRIMARY KEY,
       expires_at      INTEGER NOT NULL
     )`,
  ],
  [
    // v3: abuse control. What each conversation last reported of this user's sends (from its
    // log) and the lease it was granted (src/ratelimit/allowance.ts). hits and texts are JSON
    // arrays, bounded by the message limit and the repeat window.
    `CREATE TABLE send_reports (
       conversation_id  TEXT PRIMARY KEY,
       hits             TEXT NOT NULL,
       texts            TEXT NOT NULL,
       lease_tokens     INTEGER NOT NULL,
       lease_expires_at INTEGER NOT NULL
     )`,
    // Users this user blocked (src/user/blocks.ts).
    `CREATE TABLE blocks (
       user_id    TEXT PRIMARY KEY,
       blocked_at INTEGER NOT NULL
     )`,
  ],
  [
    // v4: unread seqs move into the conversation's row, a JSON array (ascending, the newest
    // INBOX.maxUnreadCount, 999, kept): fan-out then writes one row per member per pass, not
    // one more row per message per member (src/user/inbox.ts).
    `ALTER TABLE conversations ADD COLUMN unread TEXT NOT NULL DEFAULT '[]'`,
    `UPDATE conversations SET unread = (
       SELECT coalesce(json_group_array(seq), '[]') FROM (
         SELECT seq FROM (
           SELECT seq FROM unread u WHERE u.conversation_id = conversations.conversation_id AND u.seq > conversations.read_seq
           ORDER BY seq DESC LIMIT 999
         ) ORDER BY seq
       )
     )`,
    `DROP TABLE unread`,
  ],
  [
    // v5: the UserDO owns device standing (src/user/devices.ts). The queue cursors keep
    // their own table (a device is there once it read its stream); `devices` is now every
    // device of the account, signed in or revoked.
    `ALTER TABLE devices RENAME TO device_cursors`,
    `CREATE TABLE devices (
       device_id  TEXT PRIMARY KEY,
       created_at INTEGER NOT NULL,
       revoked_at INTEGER
     )`,
    // The account facts the rate-limit tier needs, as D1 had them at read_at (one row).
    `CREATE TABLE account (
       id         INTEGER PRIMARY KEY CHECK (id = 1),
       created_at INTEGER NOT NULL,
       trust      TEXT,
       read_at    INTEGER NOT NULL
     )`,
    // The latest report of each distinct reporter (at most REPUTATION.reportersToDemote kept).
    `CREATE TABLE reporters (
       reporter_id TEXT PRIMARY KEY,
       reported_at INTEGER NOT NULL
     )`,
    // Calls to conversations that must not be lost (src/user/outbox.ts): a block list to
    // pass on, a revoked device's windows to close. Retried by the alarm until they land.
    `CREATE TABLE outbox (
       conversation_id TEXT NOT NULL,
       kind            TEXT NOT NULL,
       device_id       TEXT NOT NULL DEFAULT '',
       version         INTEGER NOT NULL DEFAULT 0,
       attempts        INTEGER NOT NULL DEFAULT 0,
       due_at          INTEGER NOT NULL,
       PRIMARY KEY (conversation_id, kind, device_id)
     ) WITHOUT ROWID`,
  ],
  [
    // Connect tickets spent here (src/user/tickets.ts): each works once, and is kept until
    // it would have expired anyway.
    `CREATE TABLE spent_tickets (
       nonce      TEXT PRIMARY KEY,
       expires_at INTEGER NOT NULL
     ) WITHOUT ROWID`,
  ],
  [
    // Whether the conversation is end-to-end encrypted (fixed at its creation; from its
    // membership updates): the list says so, and push says nothing but "New message".
    `ALTER TABLE conversations ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0`,
  ],
  [
    // v8: the key directory (src/user/keys.ts). A row per device that uploaded keys (revoked
    // devices' rows are deleted): its fixed identity and its current signed prekeys, classic
    // (signed_*) and post-quantum last resort (pq_*). low_*: a `prekeys_low` event was
    // queued for that kind and the stock has not been refilled since (once per crossing).
    `CREATE TABLE device_keys (
       device_id       TEXT PRIMARY KEY,
       registration_id INTEGER NOT NULL,
       identity_key    TEXT NOT NULL,
       signed_id       INTEGER NOT NULL,
       signed_key      TEXT NOT NULL,
       signed_sig      TEXT NOT NULL,
       pq_id           INTEGER NOT NULL,
       pq_key          TEXT NOT NULL,
       pq_sig          TEXT NOT NULL,
       added_at        INTEGER NOT NULL,
       low_classic     INTEGER NOT NULL DEFAULT 0,
       low_pq          INTEGER NOT NULL DEFAULT 0
     )`,
    // One-time prekeys, each handed out once (deleted as it is claimed). kind: 'classic'
    // (no signature) or 'pq' (signed). Rows hold ML-KEM keys of ~2 KB: not WITHOUT ROWID.
    `CREATE TABLE one_time_prekeys (
       device_id  TEXT NOT NULL,
       kind       TEXT NOT NULL,
       key_id     INTEGER NOT NULL,
       public_key TEXT NOT NULL,
       signature  TEXT,
       PRIMARY KEY (device_id, kind, key_id)
     )`,
    // Signed prekeys replaced by a rotation, kept until retired_at + E2EE.signedPreKeyGraceMs.
    // kind: 'signed' or 'pq_last_resort'.
    `CREATE TABLE retired_prekeys (
       device_id  TEXT NOT NULL,
       kind       TEXT NOT NULL,
       key_id     INTEGER NOT NULL,
       public_key TEXT NOT NULL,
       signature  TEXT NOT NULL,
       retired_at INTEGER NOT NULL,
       PRIMARY KEY (device_id, kind, key_id)
     )`,
    // A device event for one device only (`prekeys_low`); NULL: for every device.
    `ALTER TABLE queue ADD COLUMN device_id TEXT`,
  ],
];
