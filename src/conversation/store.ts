/**
 * @module conversation/store
 * The one owner of a conversation's storage: the SQL handle, every fact read from it and
 * kept in memory (meta, members, the log's tip, the fan-out and search watermarks, the
 * outbox and lag deadlines, blocks), and the transactions that change them.
 *
 * Each module declares the facts it keeps as `Fact`s (a name and how to read it from
 * SQLite) and reads them through the store, which loads each once per instance. The
 * object is the only writer of its storage, so a fact stays exact as long as every write
 * updates it; a transaction that throws is rolled back by SQLite, and the store then
 * drops every fact at once (`reset`), so the next read sees what SQLite holds. No module
 * keeps state of its own.
 */
export interface Fact<T> {
  readonly name: string;
  load(sql: SqlStorage): T;
}

/** Declares a fact: `load` reads its current value from SQLite. */
export function fact<T>(name: string, load: (sql: SqlStorage) => T): Fact<T> {
  return { name, load };
}

export class ConversationStore {
  readonly sql: SqlStorage;
  readonly #storage: DurableObjectStorage;
  readonly #known = new Map<Fact<unknown>, unknown>();

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.sql = storage.sql;
  }

  /** The fact's value: from memory, or read from SQLite the first time. */
  get<T>(f: Fact<T>): T {
    if (this.#known.has(f)) return this.#known.get(f) as T;
    const value = f.load(this.sql);
    this.#known.set(f, value);
    return value;
  }

  /** After a write that changed the fact: its new value (which SQLite now holds too). */
  set<T>(f: Fact<T>, value: T): void {
    this.#known.set(f, value);
  }

  /** After a write that changed the fact: its new value from the old, when the fact is held (else it is read when first asked for). */
  amend<T>(f: Fact<T>, next: (value: T) => T): void {
    if (this.#known.has(f)) this.#known.set(f, next(this.#known.get(f) as T));
  }

  /** After a write whose effect on the fact is easier read again than computed. */
  forget(f: Fact<unknown>): void {
    this.#known.delete(f);
  }

  /** Drops every fact: the next reads see what SQLite holds. */
  reset(): void {
    this.#known.clear();
  }

  /** Runs `fn` as one transaction; if it throws, SQLite rolls it back and every fact is dropped. */
  transaction<T>(fn: () => T): T {
    try {
      return this.#storage.transactionSync(fn);
    } catch (err) {
      this.reset();
      throw err;
    }
  }

  /** Every fact held in memory, beside what SQLite holds for it now (for tests and checks). */
  audit(): { name: string; held: unknown; stored: unknown }[] {
    return [...this.#known].map(([f, held]) => ({ name: f.name, held: comparable(held), stored: comparable(f.load(this.sql)) }));
  }
}

/** Maps and sets as sorted arrays, so two values can be compared structurally. */
function comparable(value: unknown): unknown {
  if (value instanceof Map) return [...value].map(([k, v]) => [k, comparable(v)]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  if (value instanceof Set) return [...value].map(comparable).sort();
  return value;
}
