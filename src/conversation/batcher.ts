/**
 * @module conversation/batcher
 * Coalesces the events broadcast to chat-window sockets under load, so each socket gets
 * one `events` frame per short interval instead of one frame per event. The frame cost
 * (a send per socket here, a frame to parse at each client) is what limits a busy group;
 * the protocol's `events` frame already carries an array.
 *
 * The rule: a broadcast that comes at least `intervalMs` after the previous frame went
 * out is sent at once (so a quiet conversation adds no latency); one that comes sooner
 * waits, with any others, until `intervalMs` after the previous frame, and all go in one
 * frame. The interval grows with the number of sockets (BROADCAST), since a frame costs
 * a send per socket. Events keep their order: they leave in the order they came.
 */
import type { ConversationEvent } from '../protocol/index.js';

export const BROADCAST = {
  /** Shortest interval between two `events` frames to the same sockets, in ms. */
  minIntervalMs: 2,
  /** Added per open socket, so a room of 100 waits 5 ms and a room of 1,000 waits 50 ms. */
  perSocketMs: 0.05,
  /** Longest interval, whatever the number of sockets. */
  maxIntervalMs: 50,
} as const;

export function intervalMs(sockets: number): number {
  return Math.min(BROADCAST.maxIntervalMs, Math.max(BROADCAST.minIntervalMs, sockets * BROADCAST.perSocketMs));
}

export class EventBatcher {
  private pending: ConversationEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastSentAt = Number.NEGATIVE_INFINITY;

  /** `send` writes one `events` frame carrying `events` to every socket. */
  constructor(
    private readonly send: (events: ConversationEvent[]) => void,
    private readonly now: () => number = Date.now,
  ) {}

  add(events: ConversationEvent[], interval: number): void {
    const now = this.now();
    if (this.timer === null && now - this.lastSentAt >= interval) {
      this.lastSentAt = now;
      this.send(events);
      return;
    }
    this.pending.push(...events);
    this.timer ??= setTimeout(() => this.flush(), Math.max(0, this.lastSentAt + interval - now));
  }

  /** Sends what waits now: before any other frame, so sockets see events first and in order. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    this.lastSentAt = this.now();
    this.send(events);
  }
}
