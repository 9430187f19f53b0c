/**
 * @module conversation/search
 * Full-text search of one conversation with SQLite FTS5. The index holds the current
 * text of each live message (rowid = seq): edits replace the entry, deletes remove it.
 * The index is contentless, so removing an entry needs the text it was indexed with;
 * callers pass the message's current content. End-to-end encrypted conversations hold
 * only ciphertext, so the server cannot search them and says so.
 */
import { AppError } from '../errors.js';
import { LIMITS, type MessageContent } from '../protocol/index.js';

function textOf(content: MessageContent | undefined): string | null {
  return content?.type === 'text' ? content.text : null;
}

export function index(sql: SqlStorage, seq: number, content: MessageContent | undefined): void {
  const text = textOf(content);
  if (text !== null) sql.exec('INSERT INTO message_fts (rowid, text) VALUES (?, ?)', seq, text);
}

/** Removes a message's entry; `content` must be what was indexed (its current content). */
export function unindex(sql: SqlStorage, seq: number, content: MessageContent | undefined): void {
  const text = textOf(content);
  if (text !== null) sql.exec(`INSERT INTO message_fts (message_fts, rowid, text) VALUES ('delete', ?, ?)`, seq, text);
}

/**
 * Turns what a user typed into an FTS5 query: its words, each quoted (so no FTS syntax
 * gets through), all required, the last one also as a prefix (search as you type).
 * Null when there is no word to look for.
 */
export function toMatchQuery(input: string): string | null {
  const words = input.normalize('NFKC').match(/[\p{L}\p{N}]+/gu)?.slice(0, LIMITS.maxSearchTerms) ?? [];
  if (words.length === 0) return null;
  return words.map((w, i) => (i === words.length - 1 ? `"${w}"*` : `"${w}"`)).join(' ');
}

/** Whether this conversation is end-to-end encrypted (a flag set at creation). */
export function isEncrypted(sql: SqlStorage): boolean {
  return sql.exec<{ n: number }>(`SELECT count(*) AS n FROM meta WHERE key = 'e2e' AND value = '1'`).one().n > 0;
}

export function assertSearchable(sql: SqlStorage): void {
  if (isEncrypted(sql)) {
    throw new AppError('search_unavailable', 'This conversation is end-to-end encrypted: the server cannot search it. Search on your device instead.');
  }
}

export interface Hits {
  seqs: number[];
  /** Pass as `before` for the next page; null when there are no more hits. */
  nextBefore: number | null;
}

/** Seqs of messages matching `query`, newest first, skipping those `viewerId` hid for themselves. */
export function find(sql: SqlStorage, query: string, viewerId: string, options: { before?: number | undefined; limit?: number | undefined }): Hits {
  const match = toMatchQuery(query);
  if (match === null) throw new AppError('invalid_request', 'A search needs at least one word.');
  const limit = Math.min(options.limit ?? LIMITS.defaultSearchPageSize, LIMITS.maxSearchPageSize);
  const rows = sql
    .exec<{ seq: number }>(
      `SELECT rowid AS seq FROM message_fts
       WHERE message_fts MATCH ? AND rowid < ?
         AND rowid NOT IN (SELECT seq FROM hidden_messages WHERE user_id = ?)
       ORDER BY rowid DESC LIMIT ?`,
      match,
      options.before ?? Number.MAX_SAFE_INTEGER,
      viewerId,
      limit + 1,
    )
    .toArray();
  const seqs = rows.slice(0, limit).map((r) => r.seq);
  return { seqs, nextBefore: rows.length > limit ? (seqs.at(-1) ?? null) : null };
}
