-- Media metadata: one row per upload, from the upload request until the media is
-- deleted. Blobs live in R2 under r2_key (and the thumbnail under thumbnail_key).
-- Append-only: never edit a migration after it lands.

CREATE TABLE media (
  id              TEXT PRIMARY KEY,
  owner_id        TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  r2_key          TEXT NOT NULL,
  -- What the client declared; content_type is what the bytes turned out to be.
  declared_type   TEXT NOT NULL,
  content_type    TEXT,
  size            INTEGER NOT NULL,
  -- Lowercase hex SHA-256 of the stored bytes (ciphertext for encrypted media); the ETag.
  sha256          TEXT NOT NULL,
  encrypted       INTEGER NOT NULL,
  -- pending: URL issued, nothing stored. uploading: a request holds the single-use claim.
  -- ready: stored and verified. failed: verification failed after a multipart completion.
  state           TEXT NOT NULL,
  -- R2 multipart upload id; null for single-request uploads.
  upload_id       TEXT,
  width           INTEGER,
  height          INTEGER,
  thumbnail_key   TEXT,
  thumbnail_width INTEGER,
  thumbnail_height INTEGER,
  created_at      INTEGER NOT NULL,
  completed_at    INTEGER,
  -- Set by the cleanup job once the conversation confirms a message refers to it.
  referenced_at   INTEGER
);
CREATE INDEX media_for_cleanup ON media(state, created_at) WHERE referenced_at IS NULL;

-- Parts of multipart uploads stored so far (resumable: a part may be sent again).
CREATE TABLE media_parts (
  media_id    TEXT NOT NULL,
  part_number INTEGER NOT NULL,
  etag        TEXT NOT NULL,
  size        INTEGER NOT NULL,
  PRIMARY KEY (media_id, part_number)
);
