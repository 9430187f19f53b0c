/**
 * @module client/reorder
 * Per-conversation reorder buffer. Events can arrive out of order, twice, or not at all
 * (a live `events` frame racing a history page, a resend after reconnect, a frame lost
 * with a dying socket). The buffer turns that into exactly-once delivery in seq order
 * and says which range is missing, so the caller can fetch it from history.
 *
 * Pure: no timers, no I/O. The caller owns the clock's consequences: when `gapSince()`
 * is older than `GAP_FILL_DELAY_MS` (or at once after a reconnect) it asks the server
 * for `missing()` and pushes the page back in.
 */
import type { ConversationEvent } from '../protocol/index.js';

/**
 * How long a mid-stream gap may stay open before the caller fetches it. Short enough
 * that a lost event is barely noticed, long enough that a merely reordered one (a live
 * frame overtaken by another) arrives by itself without a history round trip.
 */
export const GAP_FILL_DELAY_MS = 1_500;

/**
 * Most events held back waiting for a gap. Beyond it the highest seqs are dropped: they
 * are the furthest from deliverable, and the catch-up fetch pages forward from
 * `lastDelivered` and returns them anyway. `missing()` keeps covering them, because the
 * buffer remembers the highest seq it has heard of. Keeping the lowest ones means a
 * filled gap delivers at once. The bound keeps a busy group from growing memory without
 * limit while a fetch is slow or failing.
 */
export const MAX_BUFFERED_EVENTS = 5_000;

/** A range to fetch from history: the events with `after < seq < before`. */
export interface Gap {
  after: number;
  before: number;
}

export interface ReorderBufferOptions {
  /** Clock for `gapSince()`, in ms. Defaults to `Date.now`. */
  now?: () => number;
  /** Defaults to `MAX_BUFFERED_EVENTS`. */
  maxBuffered?: number;
}

/**
 * Exactly-once, in-order delivery for one conversation. Generic over anything with a
 * `seq`, so events of types this SDK does not know can still move the cursor.
 *
 * @example
 * const buffer = new ReorderBuffer(storedLastSeq);
 * for (const event of buffer.push(frame.events)) render(event);
 * const gap = buffer.missing(); // fetch `history` with { after: gap.after } until it is null
 */
export class ReorderBuffer<E extends { seq: number } = ConversationEvent> {
  #lastDelivered: number;
  /** Highest seq known to exist: pushed (even if dropped for space) or announced. */
  #head: number;
  /** Buffered events by seq, and their seqs in ascending order. */
  readonly #events = new Map<number, E>();
  #seqs: number[] = [];
  #gapSince: number | null = null;
  readonly #now: () => number;
  readonly #max: number;

  /** `lastDelivered` is the seq of the last event already shown (0 for a new conversation). */
  constructor(lastDelivered = 0, options: ReorderBufferOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#max = Math.max(1, options.maxBuffered ?? MAX_BUFFERED_EVENTS);
    this.#lastDelivered = lastDelivered;
    this.#head = lastDelivered;
  }

  /** Seq of the last event handed out by `push()`. */
  get lastDelivered(): number {
    return this.#lastDelivered;
  }

  /** How many events are held back waiting for a gap to fill. */
  get buffered(): number {
    return this.#seqs.length;
  }

  /**
   * Takes events in any order, drops those already delivered or buffered, and returns
   * the ones now deliverable: contiguous from `lastDelivered + 1`, in seq order.
   */
  push(events: readonly E[]): E[] {
    for (const event of events) {
      const { seq } = event;
      if (seq <= this.#lastDelivered || this.#events.has(seq)) continue;
      if (seq > this.#head) this.#head = seq;
      this.#events.set(seq, event);
      this.#seqs.splice(insertionIndex(this.#seqs, seq), 0, seq);
    }

    const ready: E[] = [];
    let taken = 0;
    while (taken < this.#seqs.length && this.#seqs[taken] === this.#lastDelivered + 1) {
      const seq = this.#lastDelivered + 1;
      ready.push(this.#events.get(seq)!);
      this.#events.delete(seq);
      this.#lastDelivered = seq;
      taken++;
    }
    if (taken > 0) this.#seqs.splice(0, taken);

    if (this.#seqs.length > this.#max) {
      for (const seq of this.#seqs.splice(this.#max)) this.#events.delete(seq);
    }
    this.#updateGap(taken > 0);
    return ready;
  }

  /**
   * Records that the server has events up to `lastSeq` (from a `ready` frame or a
   * history page), so `missing()` also covers a lost tail that no later event revealed.
   */
  noteLastSeq(lastSeq: number): void {
    if (lastSeq > this.#head) this.#head = lastSeq;
    this.#updateGap(false);
  }

  /**
   * The first gap, as the range to fetch from history, or null when nothing is known to
   * be missing. `before` is the lowest buffered seq, or one past the highest seq known.
   */
  missing(): Gap | null {
    if (this.#head <= this.#lastDelivered) return null;
    return { after: this.#lastDelivered, before: this.#seqs[0] ?? this.#head + 1 };
  }

  /**
   * When the current gap was first seen (by the injected clock), or null without a gap.
   * The clock restarts whenever delivery advances, so a stream that is merely reordered
   * never looks stuck; a gap that makes no progress for `GAP_FILL_DELAY_MS` is worth a fetch.
   */
  gapSince(): number | null {
    return this.#gapSince;
  }

  /** Forgets everything and continues after `lastSeq`, e.g. when resuming from storage. */
  reset(lastSeq: number): void {
    this.#events.clear();
    this.#seqs = [];
    this.#lastDelivered = lastSeq;
    this.#head = lastSeq;
    this.#gapSince = null;
  }

  #updateGap(progressed: boolean): void {
    if (this.#head <= this.#lastDelivered) this.#gapSince = null;
    else if (this.#gapSince === null || progressed) this.#gapSince = this.#now();
  }
}

/** Index at which `seq` keeps `sorted` ascending (binary search). */
function insertionIndex(sorted: readonly number[], seq: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid]! < seq) low = mid + 1;
    else high = mid;
  }
  return low;
}
