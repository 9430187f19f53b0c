/**
 * @module conversation/allowance
 * The ConversationDO's side of the message limits. The per-conversation window is read
 * from the event log itself (the sender's messages in the last window, a range of seqs:
 * `firstSeqAfter`), so it costs no write per message and survives eviction. The per-user window
 * across conversations is leased from the user's UserDO (src/ratelimit/allowance.ts):
 * the leases live here in memory, and an eviction only loses unused tokens, which the
 * UserDO reclaims when the lease expires by asking this log what was really sent.
 */
import type { Decision, WindowRule } from '../ratelimit/sliding-window.js';
import { SEND_LEASE } from '../ratelimit/rules.js';
import type { LeaseGrant, TextMark } from '../ratelimit/allowance.js';
import { isRepeatCandidate, textHash, type FilterConfig } from '../moderation/filter.js';
import { firstSeqAfter } from './log.js';
import type { ConversationStore } from './store.js';

export interface SentReport {
  hits: number[];
  texts: TextMark[];
}

/** Times of `userId`'s messages stored after `since`, ascending. */
export function sentSince(store: ConversationStore, userId: string, since: number): number[] {
  return store.sql
    .exec<{ ts: number }>("SELECT ts FROM events WHERE seq >= ? AND author_user = ? AND type = 'message' ORDER BY seq", firstSeqAfter(store, since), userId)
    .toArray()
    .map((r) => r.ts);
}

interface SenderWindow {
  windowMs: number;
  /** Ascending; the ones before `head` have left the window. */
  times: number[];
  head: number;
}

/** Dropped entries are compacted away once there are this many (and they are most of the list). */
const COMPACT_AFTER = 1_024;

/**
 * The per-conversation limit. Each sender's message times within the window are read
 * from the log the first time they are needed after the object starts, then kept here:
 * the object is the only writer of its log, so the copy stays exact, and a send costs
 * no read of the sender's whole window (up to the limit: 5,000 rows for a service
 * account, more where a deployment raises it). Memory only: an eviction reads it again.
 */
export class SenderWindows {
  private readonly senders = new Map<string, SenderWindow>();

  constructor(private readonly store: ConversationStore) {}

  decide(userId: string, rule: WindowRule, now: number): Decision {
    const window = this.window(userId, rule.windowMs, now);
    if (window.times.length - window.head < rule.limit) return { allowed: true };
    // The send that must leave the window before one more fits.
    const blocking = window.times[window.times.length - rule.limit]!;
    return { allowed: false, retryAfterMs: Math.max(1, blocking + rule.windowMs - now) };
  }

  /** How many more sends the limit allows right now. */
  remaining(userId: string, rule: WindowRule, now: number): number {
    const window = this.window(userId, rule.windowMs, now);
    return Math.max(0, rule.limit - (window.times.length - window.head));
  }

  /** A message by `userId` was stored at `ts` (not before any earlier one). */
  record(userId: string, ts: number): void {
    this.senders.get(userId)?.times.push(ts);
  }

  private window(userId: string, windowMs: number, now: number): SenderWindow {
    const since = now - windowMs;
    let window = this.senders.get(userId);
    if (!window || window.windowMs !== windowMs) {
      window = { windowMs, times: sentSince(this.store, userId, since), head: 0 };
      this.senders.set(userId, window);
    }
    while (window.head < window.times.length && window.times[window.head]! <= since) window.head++;
    if (window.head >= COMPACT_AFTER && window.head * 2 >= window.times.length) {
      window.times = window.times.slice(window.head);
      window.head = 0;
    }
    return window;
  }
}

/** What this conversation tells the UserDO: the user's sends in the window and recent texts. */
export function report(store: ConversationStore, userId: string, now: number, windowMs: number, filter: FilterConfig | null): SentReport {
  const hits = sentSince(store, userId, now - windowMs);
  if (!filter) return { hits, texts: [] };
  const rows = store.sql
    .exec<{ ts: number; body: string }>(
      "SELECT ts, body FROM events WHERE seq >= ? AND author_user = ? AND type = 'message' ORDER BY seq",
      firstSeqAfter(store, now - filter.repeat.windowMs),
      userId,
    )
    .toArray();
  const texts: TextMark[] = [];
  for (const row of rows) {
    const content = (JSON.parse(row.body) as { content?: { type: string; text?: string } }).content;
    if (content?.type === 'text' && content.text && isRepeatCandidate(content.text, filter)) texts.push({ hash: textHash(content.text), at: row.ts });
  }
  return { hits, texts };
}

interface Lease {
  tokens: number;
  usableUntil: number;
  /** Set when the UserDO refused: until then sends are refused here without asking again. */
  deniedUntil: number;
  /** Texts the user already sent to the maximum number of other conversations. */
  repeated: Set<string>;
}

export type Take = { kind: 'ok' } | { kind: 'lease' } | { kind: 'denied'; retryAfterMs: number };

/** The leases this conversation holds, per user. Memory only, on purpose (see the module doc). */
export class SendAllowance {
  private readonly leases = new Map<string, Lease>();
  /** When a refused user may send again, as the UserDO said (may outlast the cached refusal). */
  private readonly retryAt = new Map<string, number>();

  /** Whether a send by `userId` needs a lease from the UserDO first. */
  needsLease(userId: string, now: number): boolean {
    const lease = this.leases.get(userId);
    if (!lease) return true;
    if (lease.deniedUntil > now) return false;
    return lease.tokens <= 0 || lease.usableUntil <= now;
  }

  record(userId: string, grant: LeaseGrant, now: number): void {
    const repeated = new Set(grant.repeated);
    if ('retryAfterMs' in grant) {
      // A refusal is cached for at most a lease's lifetime: tokens others hold may come back.
      this.leases.set(userId, { tokens: 0, usableUntil: 0, deniedUntil: now + Math.min(grant.retryAfterMs, SEND_LEASE.ttlMs), repeated });
      this.retryAt.set(userId, now + grant.retryAfterMs);
    } else {
      this.leases.set(userId, { tokens: grant.granted, usableUntil: grant.expiresAt - SEND_LEASE.marginMs, deniedUntil: 0, repeated });
    }
  }

  /** Spends one send of the user's lease. */
  take(userId: string, now: number): Take {
    const lease = this.leases.get(userId);
    if (lease && lease.deniedUntil > now) return { kind: 'denied', retryAfterMs: Math.max(1, (this.retryAt.get(userId) ?? lease.deniedUntil) - now) };
    if (!lease || lease.tokens <= 0 || lease.usableUntil <= now) return { kind: 'lease' };
    lease.tokens--;
    return { kind: 'ok' };
  }

  /** Gives back a send taken for a message that turned out to be a resend (nothing stored). */
  refund(userId: string): void {
    const lease = this.leases.get(userId);
    if (lease && lease.deniedUntil === 0) lease.tokens++;
  }

  repeated(userId: string): ReadonlySet<string> {
    return this.leases.get(userId)?.repeated ?? new Set();
  }
}
