/**
 * @module conversation/search
 * Full-text search of one conversation with SQLite FTS5. The index holds the current
 * text of each live message (rowid = seq): edits replace the entry, deletes remove it.
 * The index is contentless, so removing an entry needs the text it was indexed with;
 * callers pass the message's current content. End-to-end encrypted conversations hold
 * only ciphertext, so the server cannot search them and says so.
 *
 * New messages are indexed off the send path: `catchUp` indexes every message after the
 * `indexed_upto` watermark in one write (FTS5 flushes its pending terms once per write,
 * so a batch costs far less than a message at a time). It runs from the fan-out pass once
 * SEARCH_INDEX.batch events wait (in the pass's own commit) and, so that nothing is ever
 * missed or indexed twice, before anything that reads or changes the index: a search, an
 * edit, a delete. Fewer than a batch may wait unindexed for as long as nobody searches.
 */
import { AppError } from '../errors.js';
import { LIMITS, type MessageContent } from '../protocol/index.js';
import * as log from './log.js';
import { fact, type ConversationStore } from './store.js';

function textOf(content: MessageContent | undefined): string | null {
  return content?.type === 'text' ? content.text : null;
}

export const SEARCH_INDEX = {
  /** A drain pass indexes once this many events wait; fewer wait for the next search (or edit, or delete). */
  batch: 32,
} as const;

/** How far messages are indexed: every message with seq <= this is in the index (`catchUp` is its only writer). */
export const INDEXED_UPTO = fact<number>('search.indexedUpTo', (sql) => sql.exec<{ upto: number }>('SELECT indexed_upto AS upto FROM search_state WHERE id = 1').one().upto);

export function indexedUpTo(store: ConversationStore): number {
  return store.get(INDEXED_UPTO);
}

/**
 * Indexes the messages after the watermark up to `lastSeq`, in their content as sent
 * (nothing after the watermark was edited or deleted yet: those catch up first). Call
 * inside a synchronous write. Returns how many events it went over.
 */
export function catchUp(store: ConversationStore, lastSeq: number): number {
  const { sql } = store;
  const from = indexedUpTo(store);
  if (from >= lastSeq) return 0;
  // The events just appended are held in memory (log.RECENT): no read back, no parse.
  for (const event of log.after(store, from, lastSeq - from)) if (event.type === 'message') index(sql, event.seq, event.content);
  sql.exec('UPDATE search_state SET indexed_upto = ? WHERE id = 1', lastSeq);
  store.set(INDEXED_UPTO, lastSeq);
  return lastSeq - from;
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
