/**
 * @module client/outbox
 * Messages on their way out, replies too (with the seq they answer). Every send gets a client message id (`cmid`) and is
 * persisted before anything goes on the wire; it stays until the server acks that cmid
 * or answers with a terminal error. Resending with the same cmid is safe: the server
 * returns the original ack (`duplicate: true`), so a reload or a reconnect can resend
 * everything pending without creating doubles.
 */
import { z } from 'zod';
import { Cmid, ConversationId, MessageContent, Seq, UserId } from '../protocol/index.js';
import { committed, settled } from './idb.js';

/** One pending message, as stored. */
export const OutboxEntry = z.object({
  cmid: Cmid,
  conversationId: ConversationId,
  /** Whose message it is: another user signed in on this device never sends it. Absent in records from before it was kept. */
  userId: UserId.optional(),
  content: MessageContent,
  /** A reply: the seq of the message it answers. */
  replyToSeq: Seq.min(1).optional(),
  /** When `add()` was called, ms since the epoch. */
  createdAt: z.number().int(),
  /** Times it was handed to a transport, counted by `attempt()`. */
  attempts: z.number().int().min(0),
});
export type OutboxEntry = z.infer<typeof OutboxEntry>;

/**
 * Where pending entries survive a reload. `load()` returns entries in the order they
 * were first `put()`; putting an existing cmid again replaces it in place.
 */
export interface OutboxStore {
  load(): Promise<OutboxEntry[]>;
  put(entry: OutboxEntry): Promise<void>;
  delete(cmid: string): Promise<void>;
}

/** A new cmid: 128 random bits as 32 hex digits, which the protocol's `Cmid` accepts. */
export function newCmid(): string {
  // getRandomValues rather than randomUUID: the latter exists only in secure contexts,
  // and a page served over plain http on a LAN must still be able to send.
  let hex = '';
  for (const byte of crypto.getRandomValues(new Uint8Array(16))) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

export interface OutboxOptions {
  /** Clock for `createdAt`, in ms. Defaults to `Date.now`. */
  now?: () => number;
  /** Defaults to `newCmid`. */
  newCmid?: () => string;
}

/**
 * The outbox. Store operations run one at a time, in call order, and memory changes
 * only after the store has accepted them, so `pending()` never shows what a reload
 * would lose and an `ack()` issued while `restore()` runs is not undone by it.
 *
 * @example
 * const outbox = new Outbox(new IndexedDbOutboxStore('chat-outbox'));
 * for (const entry of await outbox.restore()) transport.send(entry);
 * const entry = await outbox.add(conversationId, { type: 'text', text: 'hi' });
 */
export class Outbox {
  readonly #store: OutboxStore;
  readonly #now: () => number;
  readonly #newCmid: () => string;
  /** Insertion order is send order. */
  readonly #entries = new Map<string, OutboxEntry>();
  #queue: Promise<unknown> = Promise.resolve();
  /** The signed-in user, from `restore()`: new entries carry it, and only theirs are loaded. */
  #owner: string | undefined;

  constructor(store: OutboxStore = new MemoryOutboxStore(), options: OutboxOptions = {}) {
    this.#store = store;
    this.#now = options.now ?? Date.now;
    this.#newCmid = options.newCmid ?? newCmid;
  }

  /**
   * Queues a message (under `cmid` when the caller chose it first, e.g. to encrypt under
   * it; a reply to message `replyToSeq`) and resolves once it is persisted. Throws a
   * `ZodError` at once for input the server would reject anyway, so such a message never
   * enters the outbox.
   */
  add(conversationId: string, content: MessageContent, cmid: string = this.#newCmid(), replyToSeq?: number): Promise<OutboxEntry> {
    const entry = OutboxEntry.parse({
      cmid,
      conversationId,
      ...(this.#owner === undefined ? {} : { userId: this.#owner }),
      content,
      ...(replyToSeq === undefined ? {} : { replyToSeq }),
      createdAt: this.#now(),
      attempts: 0,
    });
    return this.#serial(async () => {
      await this.#store.put(entry);
      this.#entries.set(entry.cmid, entry);
      return entry;
    });
  }

  /** Removes an acked entry; false if it was not pending (e.g. a duplicate ack). */
  ack(cmid: string): Promise<boolean> {
    return this.#remove(cmid).then((entry) => entry !== undefined);
  }

  /** Removes an entry the server rejected for good, returning it so the UI can show it. */
  fail(cmid: string): Promise<OutboxEntry | undefined> {
    return this.#remove(cmid);
  }

  /** Counts one more send attempt and persists it; undefined if not pending. */
  attempt(cmid: string): Promise<OutboxEntry | undefined> {
    return this.#serial(async () => {
      const entry = this.#entries.get(cmid);
      if (!entry) return undefined;
      const next = { ...entry, attempts: entry.attempts + 1 };
      await this.#store.put(next);
      this.#entries.set(cmid, next);
      return next;
    });
  }

  /** Pending entries in the order they were added, optionally for one conversation. */
  pending(conversationId?: string): OutboxEntry[] {
    const all = [...this.#entries.values()];
    return conversationId === undefined ? all : all.filter((e) => e.conversationId === conversationId);
  }

  /**
   * Loads what the store kept (after a reload) ahead of anything added since, and
   * returns all pending entries. With `userId`, only that user's entries (and those of
   * records that name nobody) are loaded, and new entries carry it. Records this version
   * cannot read, or another user's, are skipped and left in the store: the outbox never
   * deletes a message it has not delivered, except on `discard()`.
   */
  restore(userId?: string): Promise<OutboxEntry[]> {
    return this.#serial(async () => {
      this.#owner = userId;
      const loaded = await this.#store.load();
      const merged = new Map<string, OutboxEntry>();
      for (const record of loaded) {
        const parsed = OutboxEntry.safeParse(record);
        if (!parsed.success) continue;
        if (userId !== undefined && parsed.data.userId !== undefined && parsed.data.userId !== userId) continue;
        merged.set(parsed.data.cmid, parsed.data);
      }
      for (const [cmid, entry] of this.#entries) if (!merged.has(cmid)) merged.set(cmid, entry);
      this.#entries.clear();
      for (const [cmid, entry] of merged) this.#entries.set(cmid, entry);
      return this.pending();
    });
  }

  /**
   * Drops `userId`'s pending entries (and those that name nobody), from memory and the
   * store, restored or not: at sign-out nothing of theirs stays behind on the device.
   */
  discard(userId: string): Promise<void> {
    return this.#serial(async () => {
      const stored = (await this.#store.load()).flatMap((record) => {
        const parsed = OutboxEntry.safeParse(record);
        return parsed.success ? [parsed.data] : [];
      });
      for (const entry of [...stored, ...this.#entries.values()]) {
        if (entry.userId !== undefined && entry.userId !== userId) continue;
        await this.#store.delete(entry.cmid);
        this.#entries.delete(entry.cmid);
      }
      this.#owner = undefined;
    });
  }

  #remove(cmid: string): Promise<OutboxEntry | undefined> {
    return this.#serial(async () => {
      const entry = this.#entries.get(cmid);
      if (!entry) return undefined;
      await this.#store.delete(cmid);
      this.#entries.delete(cmid);
      return entry;
    });
  }

  /** Runs `op` after every earlier one has settled; a failure rejects only its caller. */
  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** Keeps entries in memory only: for tests, Node, and browsers without IndexedDB. */
export class MemoryOutboxStore implements OutboxStore {
  readonly #entries = new Map<string, OutboxEntry>();

  async load(): Promise<OutboxEntry[]> {
    return [...this.#entries.values()].map((e) => structuredClone(e));
  }

  async put(entry: OutboxEntry): Promise<void> {
    // A copy, like IndexedDB's structured clone, so callers cannot mutate what is stored.
    this.#entries.set(entry.cmid, structuredClone(entry));
  }

  async delete(cmid: string): Promise<void> {
    this.#entries.delete(cmid);
  }
}

const STORE = 'outbox';
const BY_CMID = 'cmid';

/**
 * Keeps entries in the browser's IndexedDB, in database `name`. Records get an
 * auto-increment key, so `load()` returns them in insertion order; a unique index on
 * `cmid` finds one to replace or delete.
 */
export class IndexedDbOutboxStore implements OutboxStore {
  readonly #name: string;
  #db: Promise<IDBDatabase> | null = null;

  constructor(name: string) {
    this.#name = name;
  }

  async load(): Promise<OutboxEntry[]> {
    const tx = (await this.#open()).transaction(STORE, 'readonly');
    const records = await settled(tx.objectStore(STORE).getAll());
    return records as OutboxEntry[]; // checked by Outbox.restore()
  }

  async put(entry: OutboxEntry): Promise<void> {
    const tx = (await this.#open()).transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    const lookup = store.index(BY_CMID).getKey(entry.cmid);
    lookup.onsuccess = () => {
      if (lookup.result === undefined) store.add(entry);
      else store.put(entry, lookup.result);
    };
    await committed(tx);
  }

  async delete(cmid: string): Promise<void> {
    const tx = (await this.#open()).transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    const lookup = store.index(BY_CMID).getKey(cmid);
    lookup.onsuccess = () => {
      if (lookup.result !== undefined) store.delete(lookup.result);
    };
    await committed(tx);
  }

  #open(): Promise<IDBDatabase> {
    this.#db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(this.#name, 1);
      request.onupgradeneeded = () => {
        request.result.createObjectStore(STORE, { autoIncrement: true }).createIndex(BY_CMID, 'cmid', { unique: true });
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another tab upgrading the schema waits for every open connection to close.
        db.onversionchange = () => {
          db.close();
          this.#db = null;
        };
        resolve(db);
      };
      request.onerror = () => reject(request.error);
    }).catch((error: unknown) => {
      this.#db = null; // let the next call try again
      throw error;
    });
    return this.#db;
  }
}
