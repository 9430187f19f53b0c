/**
 * @module ratelimit/allowance
 * The per-user message limit across conversations, as leases (docs/ARCHITECTURE.md,
 * "Abuse control"). Each conversation reports, from its own log, when the user sent there
 * within the window; the user's UserDO adds those up with the tokens of other
 * conversations' live leases and grants the asking conversation a lease of what is left.
 * Plain functions over plain data: the UserDO stores the reports, this decides.
 */
import type { WindowRule } from './sliding-window.js';
import { SEND_LEASE } from './rules.js';

/** A text's fingerprint and when it was sent, for the repeated-text filter. */
export interface TextMark {
  hash: string;
  at: number;
}

/** What a conversation told the UserDO when it last asked for a lease. */
export interface SendReport {
  conversationId: string;
  /** Times of the user's messages there within the window, from its log (ascending). */
  hits: number[];
  /** The user's recent texts there (and the one about to be sent), within the repeat window. */
  texts: TextMark[];
  /** Sends granted by the lease that followed the report; spent or not, they count until it expires. */
  leaseTokens: number;
  leaseExpiresAt: number;
}

export interface LeaseRequest {
  conversationId: string;
  hits: number[];
  texts: TextMark[];
  rule: WindowRule;
  /** The most this conversation could use now (what its own per-conversation limit leaves). */
  want: number;
  /** Texts seen in this many other conversations within `repeatWindowMs` come back in `repeated`. */
  repeat: { maxConversations: number; windowMs: number };
}

export type LeaseGrant =
  | { granted: number; expiresAt: number; repeated: string[] }
  | { granted: 0; retryAfterMs: number; repeated: string[] };

/**
 * Decides a lease for `request.conversationId` given every other conversation's report.
 * Unused tokens of another live lease count as sent now: they may be, until it expires.
 * Expired leases must have been settled (replaced by a fresh report) before this is called.
 */
export function grantLease(others: readonly SendReport[], request: LeaseRequest, now: number): LeaseGrant {
  const { rule } = request;
  const since = now - rule.windowMs;
  const hits = [...request.hits, ...others.flatMap((r) => r.hits)].filter((t) => t > since).sort((a, b) => a - b);
  const outstanding = others.reduce((n, r) => n + (r.leaseExpiresAt > now ? r.leaseTokens : 0), 0);
  const repeated = repeatedTexts(others, request, now);
  const available = rule.limit - hits.length - outstanding;
  if (available <= 0) return { granted: 0, retryAfterMs: retryAfter(hits, outstanding, now, rule), repeated };
  const batch = Math.max(1, Math.floor(rule.limit * SEND_LEASE.batchFraction));
  const granted = Math.max(1, Math.min(batch, request.want, Math.floor(available / 2)));
  return { granted, expiresAt: now + SEND_LEASE.ttlMs, repeated };
}

/**
 * When one more send fits, counting `outstanding` tokens as sent now, after `hits` (in
 * the window, ascending). The same answer as `decide` over hits followed by
 * `outstanding` copies of `now`, without making that list: a raised limit (the service
 * tier's) makes leases of millions of tokens.
 */
function retryAfter(hits: readonly number[], outstanding: number, now: number, rule: WindowRule): number {
  // The send that must leave the window before one more fits is the limit-th from the end.
  const blocking = hits.length + outstanding - rule.limit;
  const at = blocking < hits.length ? hits[blocking]! : now;
  return Math.max(1, at + rule.windowMs - now);
}

/** Hashes of the request's texts that other conversations already saw `maxConversations` times or more. */
function repeatedTexts(others: readonly SendReport[], request: LeaseRequest, now: number): string[] {
  const since = now - request.repeat.windowMs;
  const wanted = new Set(request.texts.map((t) => t.hash));
  const seenIn = new Map<string, number>();
  for (const report of others) {
    const hashes = new Set(report.texts.filter((t) => t.at > since && wanted.has(t.hash)).map((t) => t.hash));
    for (const hash of hashes) seenIn.set(hash, (seenIn.get(hash) ?? 0) + 1);
  }
  return [...seenIn].filter(([, n]) => n >= request.repeat.maxConversations).map(([hash]) => hash);
}

/** Whether a stored report's lease has run out and its conversation must be asked what was sent. */
export function needsSettling(report: SendReport, now: number): boolean {
  return report.leaseTokens > 0 && report.leaseExpiresAt <= now;
}
