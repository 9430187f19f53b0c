-- Reports of messages and users, for moderators (src/moderation/reports.ts). Append-only:
-- never edit a migration after it lands.
--
-- content: the reported message's content (JSON) as the reporter saw it, only for
-- conversations that are not end-to-end encrypted; NULL otherwise and for user reports.
-- Distinct reporters of one target within REPUTATION.windowMs demote it to the `new` tier.
CREATE TABLE reports (
  id              TEXT PRIMARY KEY,
  reporter_id     TEXT NOT NULL,
  target_user_id  TEXT NOT NULL,
  conversation_id TEXT,
  seq             INTEGER,
  reason          TEXT NOT NULL,
  content         TEXT,
  created_at      INTEGER NOT NULL
);
CREATE INDEX reports_by_target ON reports(target_user_id, created_at);
-- One report per reporter per message (or per user, when seq is NULL).
CREATE UNIQUE INDEX reports_once ON reports(reporter_id, target_user_id, coalesce(conversation_id, ''), coalesce(seq, 0));

-- Operator-assigned trust: 'service' for accounts that are not people (bots, imports,
-- load tests), which get the `service` rate-limit tier. NULL for everyone else.
ALTER TABLE users ADD COLUMN trust TEXT;
