/**
 * @module auth/expiring
 * A bounded per-isolate map whose entries each expire: the Worker's caches (verified
 * access tokens, src/auth/tokens.ts; device standing, src/auth/standing.ts).
 */

/** At most `maxEntries`, the oldest dropped first; an entry read at or after its `expiresAt` is gone. */
export class ExpiringMap<K, V> {
  readonly #entries = new Map<K, { value: V; expiresAt: number }>();

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.#entries.size;
  }

  /** The value kept for `key`, unless it expired by `now` (then it is dropped). */
  get(key: K, now: number): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (now < entry.expiresAt) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  /** Keeps `value` until `expiresAt` as the newest entry, dropping the oldest while full. */
  set(key: K, value: V, expiresAt: number): void {
    this.#entries.delete(key);
    // A Map iterates in insertion order, so the first key is the oldest entry.
    while (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { value, expiresAt });
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }

  keys(): IterableIterator<K> {
    return this.#entries.keys();
  }

  clear(): void {
    this.#entries.clear();
  }
}
