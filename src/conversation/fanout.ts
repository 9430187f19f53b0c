/**
 * @module conversation/fanout
 * Fan-out of accepted events to members' UserDOs (seed: on write for small groups, on
 * read for large ones).
 *
 * The event log is the outbox: an event is durable the moment it is stored, and one
 * watermark (`done_seq`) says how far it has been fanned out. No row is written per
 * member or per message; a drain pass sends every member the events after `done_seq` in
 * one call each and then moves the watermark once. A member whose call failed gets a
 * row in `fanout_lag` (its own cursor) and is caught up from there with backoff, from
 * the alarm if need be; the others are not held back. UserDOs apply each (conversation,
 * seq) at most once, so a retry never duplicates.
 *
 * Above the threshold (FANOUT_ON_WRITE_MAX_MEMBERS) members get no events, only a
 * coalesced "activity up to seq N" hint, at most one per FANOUT.hintIntervalMs.
 */
import * as log from './log.js';
import { OUTBOX } from './outbox.js';
import type { ConversationKind } from '../protocol/index.js';
import type { UserUpdate } from '../user/updates.js';

export const FANOUT = {
  /** Default of FANOUT_ON_WRITE_MAX_MEMBERS: conversations with more members fan out on read. */
  defaultMaxMembersOnWrite: 100,
  /**
   * Most events sent to a member in one call: enough for a pass every
   * `minPassIntervalMs` to keep up with 2,500 msg/s. At most 250 x 64 KiB frames, within
   * the 32 MiB an RPC may carry.
   */
  batchEvents: 250,
  /** Large conversations send their members at most one activity hint per interval. */
  hintIntervalMs: 2_000,
  /** Bound on passes per drain, so one drain cannot run forever under constant load. */
  maxPasses: 50,
  /**
   * Under load (events accepted faster than one per per-member spacing), back-to-back
   * passes start at least this far apart, so a busy conversation sends each member one
   * call per interval carrying everything accepted meanwhile, rather than one call per
   * message. Below that rate waiting would batch nothing and only delay the inbox feed:
   * then only the per-member spacing applies. Judged by rate, not by a pass's size
   * alone, so a pass that caught two events after a pause does not keep passes slow.
   * 100 ms: from 20 to 50 ms, a 1:1 chat and a group of 10 at max rate went from
   * 0.79-0.81x and 0.77x of the SQLite baseline's msgs/s to 0.90x and 0.94x; from 50 to
   * 100 ms (with `batchEvents` 100 → 250), from 0.83-0.88x and 0.84-0.89x to 0.85-0.94x
   * and 1.03-1.04x (docs/BENCHMARKS.md). Only a conversation that busy is affected (a
   * 1:1 chat past 250 msg/s, a group of 10 past 50): its members' inbox feed waits up to
   * 100 ms, the chat windows not at all.
   */
  minPassIntervalMs: 100,
  /**
   * A pass costs one call per member (and each member's UserDO then writes and pushes),
   * so bigger conversations space their passes further: 2 ms per member, 200 ms for 100.
   * Calls per second stay at most near 500 per busy conversation whatever its size; only
   * the inbox feed (not the chat windows) waits longer.
   */
  passIntervalPerMemberMs: 2,
  /**
   * A drain's first pass starts this long after the write it fans out is durable. The
   * output gate releases the ack, the chat windows' broadcast and the feed readers'
   * answers at the moment the write lands; a pass started then (a page read, a call per
   * member, and each member's UserDO writing) runs between that moment and those
   * deliveries wherever the objects share a thread, as they do under wrangler dev. At
   * 100 msg/s in a 1:1 chat, p50 send→receive went from 1.5-1.7x the SQLite baseline to
   * 0.8-1.0x (docs/BENCHMARKS.md); the inbox feed waits 5 ms more.
   */
  settleMs: 5,
} as const;

/**
 * How far apart back-to-back passes start for a conversation of `members`, after a pass
 * that carried `carried` events accepted over the `windowMs` since the pass before it.
 */
export function passIntervalMs(members: number, carried: number, windowMs: number): number {
  const spacing = members * FANOUT.passIntervalPerMemberMs;
  const busy = carried > 1 && carried * spacing > windowMs;
  return busy ? Math.max(FANOUT.minPassIntervalMs, spacing) : spacing;
}

/** FANOUT_ON_WRITE_MAX_MEMBERS, or the default when unset or not a positive integer. */
export function maxMembersOnWrite(value: string | undefined): number {
  const n = Number(value);
  return value !== undefined && value !== '' && Number.isInteger(n) && n > 0 ? n : FANOUT.defaultMaxMembersOnWrite;
}

interface StateRow {
  done_seq: number;
  hinted_at: number;
  [key: string]: SqlStorageValue;
}

interface LagRow {
  user_id: string;
  after_seq: number;
  attempts: number;
  [key: string]: SqlStorageValue;
}

/**
 * The watermark row, and whether any member lags, kept per object instance like the last
 * seq (./log.ts): this module is their only writer, and every send's drain asks for them.
 * `forget` after a rolled-back write.
 */
const states = new WeakMap<SqlStorage, { doneSeq: number; hintedAt: number }>();
const noLag = new WeakMap<SqlStorage, true>();

export function forget(sql: SqlStorage): void {
  states.delete(sql);
  noLag.delete(sql);
}

export function state(sql: SqlStorage): { doneSeq: number; hintedAt: number } {
  let current = states.get(sql);
  if (!current) {
    const row = sql.exec<StateRow>('SELECT done_seq, hinted_at FROM fanout_state WHERE id = 1').one();
    current = { doneSeq: row.done_seq, hintedAt: row.hinted_at };
    states.set(sql, current);
  }
  return current;
}

function setState(sql: SqlStorage, doneSeq: number, hintedAt: number): void {
  sql.exec('UPDATE fanout_state SET done_seq = ?, hinted_at = ? WHERE id = 1', doneSeq, hintedAt);
  states.set(sql, { doneSeq, hintedAt });
}

/** When the earliest lagging member is due, or null when none lags. */
function lagDue(sql: SqlStorage): number | null {
  if (noLag.has(sql)) return null;
  const at = sql.exec<{ at: number | null }>('SELECT min(next_attempt_at) AS at FROM fanout_lag').one().at;
  if (at === null) noLag.set(sql, true);
  return at;
}

/** When fan-out work is next due, or null when there is none. */
export function nextDue(sql: SqlStorage, onWrite: boolean, now: number): number | null {
  const { doneSeq, hintedAt } = state(sql);
  const candidates: number[] = [];
  if (doneSeq < log.lastSeq(sql)) candidates.push(onWrite ? now : Math.max(now, hintedAt + FANOUT.hintIntervalMs));
  const lag = lagDue(sql);
  if (lag !== null) candidates.push(lag);
  return candidates.length > 0 ? Math.min(...candidates) : null;
}

export interface FanoutTarget {
  sql: SqlStorage;
  conversationId: string;
  kind: ConversationKind;
  members: () => string[];
  maxMembersOnWrite: number;
  deliver: (userId: string, update: UserUpdate) => Promise<void>;
}

/** Runs fan-out passes until nothing due is left (or FANOUT.maxPasses). */
export async function drain(target: FanoutTarget): Promise<void> {
  let lastPassAt = 0;
  let windowMs = 0;
  let carried = 0;
  for (let pass = 0; pass < FANOUT.maxPasses; pass++) {
    const wait = lastPassAt + passIntervalMs(target.members().length, carried, windowMs) - Date.now();
    if (pass > 0 && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    windowMs = pass > 0 ? Date.now() - lastPassAt : 0;
    lastPassAt = Date.now();
    const members = target.members();
    const onWrite = members.length <= target.maxMembersOnWrite;
    carried = onWrite ? await sendEvents(target, members) : await sendHint(target, members);
    const caughtUp = await catchUpLagging(target, members);
    if (carried === 0 && !caughtUp) return;
  }
}

/** Sends the events after the watermark to every member; returns how many events (0: none were due). */
async function sendEvents(target: FanoutTarget, members: string[]): Promise<number> {
  const { sql } = target;
  const { doneSeq } = state(sql);
  const events = log.page(sql, { after: doneSeq, limit: FANOUT.batchEvents }).events;
  const last = events.at(-1);
  if (!last) return 0;
  const lagging = new Set(lagDue(sql) === null ? [] : sql.exec<{ user_id: string }>('SELECT user_id FROM fanout_lag').toArray().map((r) => r.user_id));
  const update: UserUpdate = { type: 'events', conversationId: target.conversationId, conversationKind: target.kind, events };
  const recipients = members.filter((m) => !lagging.has(m));
  const results = await Promise.allSettled(recipients.map((userId) => target.deliver(userId, update)));
  const now = Date.now();
  setState(sql, last.seq, state(sql).hintedAt);
  results.forEach((result, i) => {
    if (result.status === 'rejected') postpone(sql, recipients[i]!, doneSeq, 0, now, result.reason);
  });
  return events.length;
}

async function sendHint(target: FanoutTarget, members: string[]): Promise<number> {
  const { sql } = target;
  const { doneSeq, hintedAt } = state(sql);
  const lastSeq = log.lastSeq(sql);
  const now = Date.now();
  if (doneSeq >= lastSeq || now - hintedAt < FANOUT.hintIntervalMs) return 0;
  setState(sql, lastSeq, now);
  const update: UserUpdate = { type: 'activity', conversationId: target.conversationId, conversationKind: target.kind, seq: lastSeq, ts: now };
  // Hints are best effort: the next one supersedes a lost one, and the list asks the
  // conversation itself for large groups.
  const results = await Promise.allSettled(members.map((userId) => target.deliver(userId, update)));
  const failed = results.filter((r) => r.status === 'rejected').length;
  if (failed > 0) console.warn(JSON.stringify({ level: 'warn', msg: 'activity hints failed', failed, of: members.length }));
  return 1;
}

/** Catches up members whose delivery failed, from their own cursor, while they are due. */
async function catchUpLagging(target: FanoutTarget, members: string[]): Promise<number> {
  const { sql } = target;
  const now = Date.now();
  if (lagDue(sql) === null) return 0;
  const due = sql.exec<LagRow>('SELECT user_id, after_seq, attempts FROM fanout_lag WHERE next_attempt_at <= ?', now).toArray();
  if (due.length === 0) return 0;
  const current = new Set(members);
  await Promise.all(
    due.map(async (lag) => {
      const events = current.has(lag.user_id) ? log.page(sql, { after: lag.after_seq, limit: FANOUT.batchEvents }).events : [];
      const last = events.at(-1);
      if (!last) {
        sql.exec('DELETE FROM fanout_lag WHERE user_id = ?', lag.user_id);
        return;
      }
      try {
        await target.deliver(lag.user_id, { type: 'events', conversationId: target.conversationId, conversationKind: target.kind, events });
        // Once it has what everyone else has, it rejoins the common pass.
        if (last.seq >= state(sql).doneSeq) sql.exec('DELETE FROM fanout_lag WHERE user_id = ?', lag.user_id);
        else sql.exec('UPDATE fanout_lag SET after_seq = ?, attempts = 0, next_attempt_at = ? WHERE user_id = ?', last.seq, Date.now(), lag.user_id);
      } catch (err) {
        postpone(sql, lag.user_id, lag.after_seq, lag.attempts + 1, Date.now(), err);
      }
    }),
  );
  return 1;
}

function postpone(sql: SqlStorage, userId: string, afterSeq: number, attempts: number, now: number, reason: unknown): void {
  noLag.delete(sql);
  const delay = Math.min(OUTBOX.retryDelayMs * 2 ** attempts, OUTBOX.maxRetryDelayMs);
  sql.exec(
    `INSERT INTO fanout_lag (user_id, after_seq, attempts, next_attempt_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (user_id) DO UPDATE SET attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at`,
    userId,
    afterSeq,
    attempts,
    now + delay,
  );
  console.warn(JSON.stringify({ level: 'warn', msg: 'fan-out to a member failed; will retry', attempts, error: String(reason) }));
}
