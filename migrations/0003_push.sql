-- Web Push (src/push/). Append-only: never edit a migration after it lands.

-- One subscription per device: registering again replaces it. Here rather than in the
-- UserDO so the queue consumer finds a user's subscriptions with one indexed read and
-- never wakes a Durable Object (docs/ARCHITECTURE.md, "Push notifications"). An endpoint
-- belongs to one device at a time (a browser re-subscribing under another login moves it).
CREATE TABLE push_subscriptions (
  device_id  TEXT PRIMARY KEY REFERENCES devices(id),
  user_id    TEXT NOT NULL,
  endpoint   TEXT NOT NULL UNIQUE,
  p256dh     TEXT NOT NULL,
  auth       TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX push_subscriptions_by_user ON push_subscriptions(user_id);

-- Coalescing: one row per (user, conversation) while a notification burst is open. The
-- first message of a burst inserts it and is the only one that enqueues a push; later
-- ones within the collapse window only raise last_seq. Cleared when a device comes online.
CREATE TABLE push_bursts (
  user_id         TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  started_at      INTEGER NOT NULL,
  first_seq       INTEGER NOT NULL,
  last_seq        INTEGER NOT NULL,
  PRIMARY KEY (user_id, conversation_id)
);
