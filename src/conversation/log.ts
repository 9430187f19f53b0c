/**
 * @module conversation/log
 * The conversation's event log in SQLite: append with the next seq, look up a send by
 * its cmid, and page by seq in either direction.
 */
import type { Ack, Author, ConversationEvent, HistoryQuery } from '../protocol/index.js';
import { LIMITS } from '../protocol/index.js';
import { fact, type ConversationStore } from './store.js';

/**
 * An event as stored, in the order of EVENT_COLUMNS. Events are read as arrays (`.raw()`):
 * measured in workerd, a page of 100 read as arrays costs 160-250 µs against 510-590 µs
 * as objects, a sixth of a history page's CPU.
 */
export type EventRow = [seq: number, type: string, ts: number, authorUser: string, authorDevice: string, body: string];

const EVENT_COLUMNS = 'seq, type, ts, author_user, author_device, body';
const BODY = 5;

/** The events a clause selects (`WHERE … ORDER BY … LIMIT …`), as stored. */
function readRows(sql: SqlStorage, clause: string, ...params: SqlStorageValue[]): EventRow[] {
  return Array.from(sql.exec(`SELECT ${EVENT_COLUMNS} FROM events ${clause}`, ...params).raw()) as EventRow[];
}

/** The event as stored: everything but seq, which append assigns. */
export type NewEvent = DistributiveOmit<Exclude<ConversationEvent, { type: 'withheld' }>, 'seq'>;
type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

/**
 * The last event's seq and ts: the object is the log's only writer, so they are read from
 * SQLite once and then moved by `insert` (a rolled-back write resets the store).
 */
interface Tip {
  seq: number;
  ts: number;
}

export const TIP = fact<Tip>('log.tip', (sql) => {
  const row = sql.exec<{ seq: number; ts: number }>('SELECT seq, ts FROM events ORDER BY seq DESC LIMIT 1').toArray()[0];
  return { seq: row?.seq ?? 0, ts: row?.ts ?? 0 };
});

export function lastSeq(store: ConversationStore): number {
  return store.get(TIP).seq;
}

/**
 * The newest events as stored, held in memory so that a fan-out pass sends what was just
 * appended without reading it back (it was ~20% of the CPU of many small conversations
 * at steady rates, docs/BENCHMARKS.md). The longest suffix of the log within both bounds;
 * `insert` extends it, an erasure drops it (`forgetRecent`).
 */
export const RECENT_KEPT = {
  /** A full fan-out pass (FANOUT.batchEvents). */
  events: 250,
  /** Characters of JSON bodies at most: 250 frames of 64 KiB would be 16 MiB. */
  bodyChars: 1 << 20,
} as const;

interface Recent {
  events: ConversationEvent[];
  /** Each event's body length, and their sum (for the bound). */
  sizes: number[];
  total: number;
}

export const RECENT = fact<Recent>('log.recent', (sql) => {
  const rows = readRows(sql, 'ORDER BY seq DESC LIMIT ?', RECENT_KEPT.events);
  const kept: EventRow[] = [];
  let total = 0;
  for (const row of rows) {
    if (total + row[BODY].length > RECENT_KEPT.bodyChars) break;
    total += row[BODY].length;
    kept.push(row);
  }
  kept.reverse();
  return { events: kept.map(toEvent), sizes: kept.map((r) => r[BODY].length), total };
});

/** After a write that changed stored events (an erasure): the recent ones are read again when next asked for. */
export function forgetRecent(store: ConversationStore): void {
  store.forget(RECENT);
}

/** Up to `limit` events after `seq`, in seq order, as stored: from memory when they are recent. */
export function after(store: ConversationStore, seq: number, limit: number): ConversationEvent[] {
  if (seq >= lastSeq(store)) return [];
  const { events } = store.get(RECENT);
  const first = events[0];
  if (first && first.seq <= seq + 1) return events.slice(seq + 1 - first.seq, seq + 1 - first.seq + limit);
  return readRows(store.sql, 'WHERE seq > ? ORDER BY seq LIMIT ?', seq, limit).map(toEvent);
}

/** Appends `row` to the recent events, dropping the oldest beyond the bounds (in place: `after` hands out copies). */
function appendRecent(recent: Recent, row: EventRow): Recent {
  recent.events.push(toEvent(row));
  recent.sizes.push(row[BODY].length);
  recent.total += row[BODY].length;
  let drop = 0;
  while (recent.events.length - drop > RECENT_KEPT.events || recent.total > RECENT_KEPT.bodyChars) recent.total -= recent.sizes[drop++]!;
  recent.events.splice(0, drop);
  recent.sizes.splice(0, drop);
  return recent;
}

/**
 * The first seq whose event was stored after `since` (ms), or the next seq when none
 * was: a binary search over the log by seq, which works because ts never decreases
 * along the log (`insert`). So "a sender's messages in the last minute" is a range of
 * seqs, and the log needs no index by time, which would cost every insert a page more
 * (events_by_author_ts, dropped in schema v7; docs/BENCHMARKS.md). Seqs have no gaps.
 */
export function firstSeqAfter(store: ConversationStore, since: number): number {
  const { seq: last, ts: lastTs } = store.get(TIP);
  if (lastTs <= since) return last + 1;
  let low = 1;
  let high = last;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    const { ts } = store.sql.exec<{ ts: number }>('SELECT ts FROM events WHERE seq = ?', mid).one();
    if (ts > since) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** Appends an event with seq = last + 1. Synchronous, so nothing can interleave. */
export function append(store: ConversationStore, event: NewEvent): ConversationEvent {
  return insert(store, event, '')!;
}

/**
 * Appends a sent event unless its sender already stored one with the same cmid: the
 * unique (sender, cmid) index decides, so a new send costs no look-up first. Null when
 * it was a resend (`findAckByCmid` then has the first one's ack).
 */
export function appendUnlessSent(store: ConversationStore, event: NewEvent & { cmid: string }): ConversationEvent | null {
  return insert(store, event, 'ON CONFLICT DO NOTHING');
}

function insert(store: ConversationStore, event: NewEvent, onConflict: string): ConversationEvent | null {
  const { type, ts: at, author, ...rest } = event;
  const cmid = 'cmid' in rest ? rest.cmid : null;
  const previous = store.get(TIP);
  const seq = previous.seq + 1;
  // Never before the previous event, even if the clock steps back: `firstSeqAfter` relies on it.
  const ts = Math.max(at, previous.ts);
  const row: EventRow = [seq, type, ts, author.userId, author.deviceId, JSON.stringify(rest)];
  const written = store.sql.exec(
    `INSERT INTO events (seq, type, ts, author_user, author_device, cmid, body) VALUES (?, ?, ?, ?, ?, ?, ?) ${onConflict}`,
    seq,
    type,
    ts,
    author.userId,
    author.deviceId,
    cmid,
    row[BODY],
  ).rowsWritten;
  if (written === 0) return null;
  store.set(TIP, { seq, ts });
  store.amend(RECENT, (recent) => appendRecent(recent, row));
  return { ...event, ts, seq } as ConversationEvent;
}

export function findAckByCmid(sql: SqlStorage, userId: string, cmid: string): Ack | null {
  const row = sql
    .exec<{ seq: number; ts: number }>('SELECT seq, ts FROM events WHERE author_user = ? AND cmid = ?', userId, cmid)
    .toArray()[0];
  return row ? { cmid, seq: row.seq, ts: row.ts, duplicate: true } : null;
}

export interface Page {
  events: ConversationEvent[];
  hasMore: boolean;
}

/**
 * One page of history. `after` pages forwards (catching up), `before` backwards
 * (scrolling back); both together fetch the gap between them; neither returns the
 * newest page. Events are always returned in ascending seq order.
 */
export function page(sql: SqlStorage, query: HistoryQuery): Page {
  const { rows, hasMore } = pageRows(sql, query);
  return { events: rows.map(toEvent), hasMore };
}

/** The rows of `page`, as stored (ascending seq). */
export function pageRows(sql: SqlStorage, query: HistoryQuery): { rows: EventRow[]; hasMore: boolean } {
  const limit = Math.min(query.limit ?? LIMITS.defaultPageSize, LIMITS.maxPageSize);
  const forwards = query.after !== undefined;
  const conditions: string[] = [];
  const params: number[] = [];
  if (query.after !== undefined) {
    conditions.push('seq > ?');
    params.push(query.after);
  }
  if (query.before !== undefined) {
    conditions.push('seq < ?');
    params.push(query.before);
  }
  const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
  const rows = readRows(sql, `${where} ORDER BY seq ${forwards ? 'ASC' : 'DESC'} LIMIT ?`, ...params, limit + 1);
  const hasMore = rows.length > limit;
  const kept = rows.slice(0, limit);
  if (!forwards) kept.reverse();
  return { rows: kept, hasMore };
}

export function toEvent([seq, type, ts, userId, deviceId, body]: EventRow): ConversationEvent {
  const author: Author = { userId, deviceId };
  return { seq, type, ts, author, ...JSON.parse(body) } as ConversationEvent;
}

/**
 * A stored message's JSON text as `toEvent` then JSON.stringify would give it (keys in
 * the order a rendered message has them), spliced from the stored body without a parse.
 */
export function messageJson([seq, , ts, userId, deviceId, body]: EventRow): string {
  const head = `{"type":"message","seq":${seq},"ts":${ts},"author":{"userId":${JSON.stringify(userId)},"deviceId":${JSON.stringify(deviceId)}}`;
  return body.length > 2 ? `${head},${body.slice(1)}` : `${head}}`;
}

/** The event at `seq`, as stored, or null. */
export function eventAt(sql: SqlStorage, seq: number): ConversationEvent | null {
  const row = readRows(sql, 'WHERE seq = ?', seq)[0];
  return row ? toEvent(row) : null;
}

export interface InboxState {
  lastSeq: number;
  lastTs: number | null;
  unreadCount: number;
}

/**
 * One member's view for the conversation list, computed on read: messages from others
 * (not from authors they blocked) after their read watermark (or after their own last
 * message, which they have seen), counted up to `maxUnread`. (The preview needs the
 * message as it reads now: lifecycle.lastPreview.)
 */
export function inboxState(sql: SqlStorage, userId: string, readSeq: number, maxUnread: number, blocked: ReadonlySet<string>): InboxState {
  const last = sql.exec<{ seq: number; ts: number }>('SELECT seq, ts FROM events ORDER BY seq DESC LIMIT 1').toArray()[0];
  const ownLast = sql
    .exec<{ seq: number | null }>("SELECT max(seq) AS seq FROM events WHERE author_user = ? AND cmid IS NOT NULL AND type = 'message'", userId)
    .one().seq;
  const from = Math.max(readSeq, ownLast ?? 0);
  return { lastSeq: last?.seq ?? 0, lastTs: last?.ts ?? null, unreadCount: unreadAfter(sql, from, userId, maxUnread, blocked) };
}

/** Messages after `from` by others than `userId` and `blocked`, counted up to `max`. */
function unreadAfter(sql: SqlStorage, from: number, userId: string, max: number, blocked: ReadonlySet<string>): number {
  const others = "FROM events WHERE seq > ? AND type = 'message' AND author_user != ?";
  if (blocked.size === 0) return sql.exec<{ n: number }>(`SELECT count(*) AS n FROM (SELECT 1 ${others} LIMIT ?)`, from, userId, max).one().n;
  let n = 0;
  // Read lazily, stopping at `max`: blocked authors' rows are skipped, not counted.
  for (const row of sql.exec<{ author_user: string }>(`SELECT author_user ${others}`, from, userId)) {
    if (!blocked.has(row.author_user) && ++n >= max) break;
  }
  return n;
}
