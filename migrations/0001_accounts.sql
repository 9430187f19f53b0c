-- Accounts, devices and credentials. Append-only: never edit a migration after it lands.

CREATE TABLE users (
  id            TEXT PRIMARY KEY,
  handle        TEXT NOT NULL UNIQUE,
  display_name  TEXT NOT NULL,
  -- scrypt: hash and salt are base64url; params are JSON {N, r, p, keyLength} so they can be raised later.
  password_hash TEXT NOT NULL,
  password_salt TEXT NOT NULL,
  password_params TEXT NOT NULL,
  created_at    INTEGER NOT NULL
);

-- Each login is a device. A revoked device keeps its row (so its id is never reused) but
-- can no longer authenticate.
CREATE TABLE devices (
  id           TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL REFERENCES users(id),
  name         TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  revoked_at   INTEGER
);
CREATE INDEX devices_by_user ON devices(user_id);

-- Refresh tokens are stored as SHA-256 hashes. Each use rotates: the old row gets
-- used_at; presenting a used token again revokes the device (the token was stolen).
CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  device_id  TEXT NOT NULL REFERENCES devices(id),
  expires_at INTEGER NOT NULL,
  used_at    INTEGER
);
CREATE INDEX refresh_tokens_by_device ON refresh_tokens(device_id);

-- Single-use, short-lived tickets for opening WebSockets (browsers cannot set headers on
-- an upgrade, and a long-lived token must never travel in a URL).
CREATE TABLE connect_tickets (
  ticket_hash TEXT PRIMARY KEY,
  user_id     TEXT NOT NULL,
  device_id   TEXT NOT NULL,
  expires_at  INTEGER NOT NULL
);
