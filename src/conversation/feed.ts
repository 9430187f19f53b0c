/**
 * @module conversation/feed
 * Requests held open on a conversation's feed (docs/PROTOCOL.md, "A conversation's feed
 * over HTTP"): each waits for the next event the object accepts, or its timeout. Memory
 * only: a held request keeps the object awake anyway, and an eviction ends the requests
 * themselves (clients ask again from their last seq, so nothing is lost).
 */
export class FeedWaiters {
  readonly #waiting = new Set<() => void>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#waiting.size;
  }

  /** Resolves at the next `wake` or after `timeoutMs`; null when `max` are waiting already. */
  wait(timeoutMs: number): Promise<void> | null {
    if (this.#waiting.size >= this.#max) return null;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiting.add(done);
    });
  }

  /** Every waiting request reads the feed again. */
  wake(): void {
    // Every broadcast calls this; with no one waiting it costs no copy.
    if (this.#waiting.size === 0) return;
    for (const done of [...this.#waiting]) done();
  }
}
