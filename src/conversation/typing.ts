/**
 * @module conversation/typing
 * Typing indicators, held in memory only: they are worthless a few seconds later, so
 * nothing is written to storage. A start expires by itself after `TYPING.ttlMs` unless
 * refreshed; the expiry timer also keeps the object awake (not hibernated) for that
 * long, and if the object is evicted anyway, clients expire the indicator themselves
 * from the `expiresInMs` they were given.
 *
 * Starts are rate-limited per device twice: at most one per `TYPING.minIntervalMs` (a
 * burst guard: clients refresh every ~3 s), and by the tier's `typing` window from
 * TIER_LIMITS (the sustained rate). Both live in memory: an eviction forgets them, which
 * costs at most one extra window of indicators that are never stored anyway.
 */
import { TYPING } from '../protocol/index.js';
import { decide, prune, type WindowRule } from '../ratelimit/sliding-window.js';

export type TypingOutcome =
  | { kind: 'broadcast'; state: 'start' | 'stop' }
  /** Nothing to tell anyone (a stop when not typing). */
  | { kind: 'quiet' }
  | { kind: 'rate_limited'; retryAfterMs: number };

interface Entry {
  userId: string;
  deviceId: string;
  lastStartAt: number;
  /** Times of the starts allowed within the tier's window. */
  starts: number[];
  timer: ReturnType<typeof setTimeout> | null;
}

export class TypingTracker {
  private readonly devices = new Map<string, Entry>();

  /** `onExpire` is called when a start runs out without a refresh or stop. */
  constructor(private readonly onExpire: (userId: string, deviceId: string) => void) {}

  update(userId: string, deviceId: string, state: 'start' | 'stop', now: number, rule: WindowRule): TypingOutcome {
    const key = `${userId}\u0000${deviceId}`;
    const entry = this.devices.get(key);
    if (state === 'stop') {
      if (!entry?.timer) return { kind: 'quiet' };
      clearTimeout(entry.timer);
      entry.timer = null;
      return { kind: 'broadcast', state: 'stop' };
    }
    if (entry && now - entry.lastStartAt < TYPING.minIntervalMs) {
      return { kind: 'rate_limited', retryAfterMs: TYPING.minIntervalMs - (now - entry.lastStartAt) };
    }
    const starts = prune(entry?.starts ?? [], now, rule.windowMs);
    const sustained = decide(starts, now, rule);
    if (!sustained.allowed) return { kind: 'rate_limited', retryAfterMs: sustained.retryAfterMs };
    if (entry?.timer) clearTimeout(entry.timer);
    const next: Entry = { userId, deviceId, lastStartAt: now, starts: [...starts, now], timer: null };
    next.timer = setTimeout(() => {
      next.timer = null;
      this.onExpire(userId, deviceId);
    }, TYPING.ttlMs);
    this.devices.set(key, next);
    return { kind: 'broadcast', state: 'start' };
  }

  /** A device's window closed: it is no longer typing. True when it was. */
  forget(userId: string, deviceId: string): boolean {
    const key = `${userId}\u0000${deviceId}`;
    const entry = this.devices.get(key);
    this.devices.delete(key);
    if (!entry?.timer) return false;
    clearTimeout(entry.timer);
    return true;
  }
}
