/**
 * @module conversation/typing
 * Typing indicators, held in memory only: they are worthless a few seconds later, so
 * nothing is written to storage. A start expires by itself after `TYPING.ttlMs` unless
 * refreshed; the expiry timer also keeps the object awake (not hibernated) for that
 * long, and if the object is evicted anyway, clients expire the indicator themselves
 * from the `expiresInMs` they were given (and a feed reader's next answer lists nobody).
 *
 * A device types from a chat window (a `typing` frame) or, on a fallback wire, over HTTP
 * (`POST …/typing`); either way the same limits apply and everyone else hears of it the
 * same way: the windows get a `typing` frame, and held feed reads wake to read who is
 * typing now (`viewFor`), each through the delivery rule (./visibility.ts).
 *
 * Starts are rate-limited per device twice: at most one per `TYPING.minIntervalMs` (a
 * burst guard: clients refresh every ~3 s), and by the tier's `typing` window from
 * TIER_LIMITS (the sustained rate). Both live in memory: an eviction forgets them, which
 * costs at most one extra window of indicators that are never stored anyway.
 */
import { AppError } from '../errors.js';
import { TYPING, type FeedTyping, type Typist } from '../protocol/index.js';
import { TIER_LIMITS, type Tier } from '../ratelimit/rules.js';
import { decide, prune, type WindowRule } from '../ratelimit/sliding-window.js';
import type { DeviceStandings } from './standing.js';
import type { ConversationStore } from './store.js';
import { admitted, hearsFrom, type Reader } from './visibility.js';

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

  /** The devices typing now (started and neither stopped nor expired), each with its last start. */
  typing(): { userId: string; deviceId: string; startedAt: number }[] {
    return [...this.devices.values()].filter((e) => e.timer !== null).map((e) => ({ userId: e.userId, deviceId: e.deviceId, startedAt: e.lastStartAt }));
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

/** Tells everyone else that `subject` started or stopped typing (`except`: the socket it came on, if any). */
export type TypingAnnouncer = (subject: Reader, state: 'start' | 'stop', except: WebSocket | null) => void;

/** Who is typing in this conversation, from either wire, and what each reader may know of it. */
export class Typing {
  readonly #tracker = new TypingTracker((userId, deviceId) => this.announce({ userId, deviceId }, 'stop', null));

  constructor(
    private readonly store: ConversationStore,
    private readonly standings: DeviceStandings,
    private readonly announce: TypingAnnouncer,
  ) {}

  /**
   * A device starts or stops typing: from a window (`from`, its socket, which is not told
   * back) or over HTTP (null). The caller has admitted the reader. Throws `rate_limited`.
   */
  update(reader: Reader, state: 'start' | 'stop', tier: Tier, from: WebSocket | null): void {
    const outcome = this.#tracker.update(reader.userId, reader.deviceId, state, Date.now(), TIER_LIMITS[tier].typing);
    if (outcome.kind === 'rate_limited') {
      throw new AppError('rate_limited', 'Typing updates are limited per device; refresh less often.', { retryAfterMs: outcome.retryAfterMs });
    }
    if (outcome.kind === 'broadcast') this.announce(reader, outcome.state, from);
  }

  /** A device's window closed: it stops typing. */
  forget(reader: Reader, from: WebSocket): void {
    if (this.#tracker.forget(reader.userId, reader.deviceId)) this.announce(reader, 'stop', from);
  }

  /**
   * Who is typing as `reader` may see it, for the feed: not their own device (as a window
   * is not told its own frames), nobody they blocked, nobody no longer admitted. The token
   * changes whenever this list does: a device leaves it (count down) or starts or
   * refreshes (the latest start moves on), so a reader that passes its last token back is
   * woken exactly when there is something new for it.
   */
  viewFor(reader: Reader, now: number): FeedTyping {
    const seen = this.#tracker
      .typing()
      .filter((t) => t.deviceId !== reader.deviceId && hearsFrom(this.store, reader.userId, t.userId) && admitted(this.store, this.standings, t))
      .sort((a, b) => a.startedAt - b.startedAt);
    if (seen.length === 0) return { token: '', typists: [] };
    const typists = seen.map((t): Typist => ({ userId: t.userId, deviceId: t.deviceId, expiresInMs: Math.max(0, t.startedAt + TYPING.ttlMs - now) }));
    return { token: `${seen.length}.${seen.at(-1)!.startedAt}`, typists };
  }
}
