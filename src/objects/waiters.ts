/**
 * @module objects/waiters
 * Requests held open until something happens (a held long poll, a live SSE read): each
 * waits under a key for the next `wake` of that key, or its timeout. Memory only: a held
 * request keeps its object awake anyway, and an eviction ends the requests themselves
 * (clients ask again from their cursor, so nothing is lost).
 */
export class Waiters<K = string> {
  readonly #waiting = new Map<K, Set<() => void>>();
  #size = 0;

  /** `max`: most requests held at once; more are refused (`wait` answers null). */
  constructor(private readonly max: number = Number.POSITIVE_INFINITY) {}

  get size(): number {
    return this.#size;
  }

  /** Resolves at the next `wake` of `key` (or of all) or after `timeoutMs`; null when `max` wait already. */
  wait(key: K, timeoutMs: number): Promise<void> | null {
    if (this.#size >= this.max) return null;
    return new Promise((resolve) => {
      const set = this.#waiting.get(key) ?? new Set<() => void>();
      this.#waiting.set(key, set);
      const done = () => {
        clearTimeout(timer);
        if (set.delete(done)) this.#size--;
        if (set.size === 0 && this.#waiting.get(key) === set) this.#waiting.delete(key);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      set.add(done);
      this.#size++;
    });
  }

  /** Wakes the requests waiting under `key`, or every request when no key is given. */
  wake(key?: K): void {
    // Called on every broadcast: with no one waiting it costs nothing.
    if (this.#size === 0) return;
    const sets = key === undefined ? [...this.#waiting.values()] : [this.#waiting.get(key)].filter((s) => s !== undefined);
    for (const set of sets) for (const done of [...set]) done();
  }

  /** Whether any request waits under `key`. */
  has(key: K): boolean {
    return (this.#waiting.get(key)?.size ?? 0) > 0;
  }
}
