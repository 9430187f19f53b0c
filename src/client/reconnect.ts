/**
 * @module client/reconnect
 * When a lost connection is tried again: the one policy every wire follows (the chat
 * window socket, the device event stream, a conversation's feed).
 *
 * - The delay is `nextDelay` (exponential, full jitter, capped at `maxDelayMs`), with one
 *   more bound: it is never longer than half of how long the connection has been failing
 *   (`OUTAGE_SHARE`), and never shorter than the first delay. Five failures within two
 *   seconds are one short outage, not five long ones: the next try stays within a
 *   second, so a server (or network) that is back is found at once. A long outage still
 *   backs off to the cap, with about as many tries as plain exponential backoff.
 * - The outage ends only when a connection has stayed ready for `stableMs`: a connection
 *   that comes up and drops again at once (a flapping server or proxy) keeps backing off
 *   instead of starting over, so it cannot make its clients hammer it.
 * - `reset()` forgets the outage: for when the browser says the network is back
 *   (`online`) or the page is shown again. The caller then tries at once.
 *
 * Pure apart from the injected clock, so it is tested as a property (test/client/reconnect.test.ts).
 */
import { BACKOFF_DEFAULTS, nextDelay, type BackoffOptions } from './backoff.js';

/** A connection ready for this long was stable: the next loss starts a new outage. */
export const STABLE_MS = 2_000;

/** The delay is at most this share of the outage so far. */
export const OUTAGE_SHARE = 0.5;

export class ReconnectPolicy {
  readonly #options: BackoffOptions;
  readonly #now: () => number;
  /** Failed attempts (and unstable connections) in the current outage. */
  #failures = 0;
  /** When the current outage began, or null while none is known. */
  #downSince: number | null = null;
  /** When the current connection got ready, or null while there is none. */
  #upSince: number | null = null;

  constructor(options: BackoffOptions = BACKOFF_DEFAULTS, now: () => number = Date.now) {
    this.#options = options;
    this.#now = now;
  }

  /** Failed attempts so far in the current outage. */
  get failures(): number {
    return this.#failures;
  }

  /** A connection got ready. */
  up(): void {
    this.#upSince = this.#now();
  }

  /**
   * The connection was lost, or an attempt failed before it got ready: how long to wait
   * before the next attempt, in ms. `random` in [0, 1) (pass `Math.random()`).
   */
  next(random: number): number {
    const now = this.#now();
    const stableMs = this.#options.stableMs ?? STABLE_MS;
    if (this.#upSince !== null && now - this.#upSince >= stableMs) this.reset();
    this.#upSince = null;
    this.#downSince ??= now;
    const byCount = nextDelay(this.#failures++, 0, { ...this.#options, jitter: 'none' });
    const byTime = Math.max(this.#options.initialDelayMs, (now - this.#downSince) * OUTAGE_SHARE);
    const ceiling = Math.min(byCount, byTime);
    if (this.#options.jitter === 'none') return Math.floor(ceiling);
    const r = Number.isNaN(random) ? 0 : Math.min(Math.max(random, 0), 1);
    return Math.floor(r * ceiling);
  }

  /** Forgets the outage: the next `next()` starts from the first delay. */
  reset(): void {
    this.#failures = 0;
    this.#downSince = null;
  }
}

/**
 * Subscribes to "try again now" (the browser is online again, the page is visible
 * again, or the app asked); returns the unsubscribe function.
 */
export type WakeSignal = (listener: () => void) => () => void;

/** A wake signal that never fires (Node, tests). */
export const NEVER_WAKE: WakeSignal = () => () => undefined;

/**
 * A wake signal and the function that fires it, wired to the browser's own signals where
 * there are any: `online` on the window, and `visibilitychange` to visible (a phone that
 * was asleep, a tab brought back).
 */
export function wakeSource(): { wake: WakeSignal; fire: () => void } {
  const target = globalThis as { addEventListener?: (type: string, fn: () => void) => void; document?: { visibilityState?: string; addEventListener?: (type: string, fn: () => void) => void } };
  const listeners = new Set<() => void>();
  const fire = () => {
    for (const listener of [...listeners]) listener();
  };
  if (typeof target.addEventListener === 'function') {
    target.addEventListener('online', fire);
    target.document?.addEventListener?.('visibilitychange', () => {
      if (target.document?.visibilityState === 'visible') fire();
    });
  }
  return {
    wake: (listener) => {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    fire,
  };
}
