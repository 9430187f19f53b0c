/**
 * @module client/backoff
 * Reconnect delays: exponential backoff with full jitter. Full jitter spreads a crowd
 * of clients that lost the same server over the whole window instead of letting them
 * return in synchronised waves ("Exponential Backoff And Jitter", AWS Architecture Blog).
 */

export interface BackoffOptions {
  /** Ceiling of the first retry's window (attempt 0), in ms. */
  readonly initialDelayMs: number;
  /** The window never grows past this, in ms. */
  readonly maxDelayMs: number;
  /** Growth of the window per attempt; 1 or more. */
  readonly factor: number;
  /** `full`: a uniform pick in [0, ceiling). `none`: always the ceiling (tests, tooling). */
  readonly jitter: 'full' | 'none';
  /**
   * A connection ready for this long was stable, so the next loss starts from the first
   * delay again (default `STABLE_MS`, 2 s; see ./reconnect.ts). Not used by `nextDelay`.
   */
  readonly stableMs?: number;
}

/**
 * Half a second for the first retry, doubling up to 10 s: a person waits for a chat to
 * come back, and a longer cap mostly adds waiting (partysocket caps at 10 s too). A
 * long outage still spreads its clients' tries over the whole window (full jitter).
 */
export const BACKOFF_DEFAULTS: BackoffOptions = {
  initialDelayMs: 500,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: 'full',
};

/**
 * Milliseconds to wait before reconnect attempt `attempt` (0 for the first retry):
 * `random * min(maxDelayMs, initialDelayMs * factor ** attempt)`, rounded down.
 * `random` is injected (pass `Math.random()`, 0 <= random < 1) so this stays pure.
 *
 * @example
 * const ms = nextDelay(failures, Math.random());
 */
export function nextDelay(attempt: number, random: number, options: BackoffOptions = BACKOFF_DEFAULTS): number {
  const { initialDelayMs, maxDelayMs, factor, jitter } = options;
  // Clamp instead of trusting callers: a negative, NaN or infinite attempt or an
  // out-of-range random must still yield a usable timer value, never NaN.
  // (1 ** Infinity is NaN, hence the finite cap on attempt.)
  const n = Number.isNaN(attempt) ? 0 : Math.min(Math.max(0, attempt), Number.MAX_SAFE_INTEGER);
  const grown = initialDelayMs * factor ** n; // Infinity for huge n; NaN only for 0 * Infinity
  const ceiling = Number.isNaN(grown) ? 0 : Math.max(0, Math.min(maxDelayMs, grown));
  if (jitter === 'none') return Math.floor(ceiling);
  const r = Number.isNaN(random) ? 0 : Math.min(Math.max(random, 0), 1);
  return Math.floor(r * ceiling);
}
