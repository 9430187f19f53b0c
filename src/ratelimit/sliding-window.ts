/**
 * @module ratelimit/sliding-window
 * An exact sliding-window limit: a request is allowed when fewer than `limit` were
 * allowed in the `windowMs` before it. Unlike fixed windows, a burst cannot get 2x the
 * limit across a window boundary. The price is keeping each allowed hit's time, which
 * is at most `limit` numbers per key.
 */

export interface WindowRule {
  limit: number;
  windowMs: number;
}

export type Decision = { allowed: true } | { allowed: false; retryAfterMs: number };

/** Decides on one more hit given the times of earlier allowed hits (ascending). */
export function decide(hits: readonly number[], now: number, rule: WindowRule): Decision {
  const since = now - rule.windowMs;
  let first = 0;
  while (first < hits.length && hits[first]! <= since) first++;
  const inWindow = hits.length - first;
  if (inWindow < rule.limit) return { allowed: true };
  // The hit that must leave the window before one more fits.
  const blocking = hits[hits.length - rule.limit]!;
  return { allowed: false, retryAfterMs: Math.max(1, blocking + rule.windowMs - now) };
}

/** Drops hits that can no longer matter for `windowMs`. */
export function prune(hits: number[], now: number, windowMs: number): number[] {
  const since = now - windowMs;
  let first = 0;
  while (first < hits.length && hits[first]! <= since) first++;
  return first === 0 ? hits : hits.slice(first);
}
