/**
 * @module web/lib/message-cache
 * The newest messages of each chat this device opened, kept in IndexedDB so a chat reads
 * offline (after a reload too, with the app shell from the service worker). What is kept
 * is only a placeholder: the first page of history read from the service replaces it
 * whole (edits and deletes made meanwhile included). Sign-out deletes the user's chats.
 */
import type { MessageEvent } from '../../client/index.js';

/** Messages kept per chat: about a screenful and a half of scrolling back. */
export const CACHED_MESSAGES = 100;

const DB_NAME = 'edge-chat';
const STORE = 'recent-messages';

export interface CachedChat {
  /** `${userId}:${conversationId}` */
  key: string;
  userId: string;
  /** As the chat showed them (edits applied, deleted ones without content), in seq order. */
  messages: MessageEvent[];
  /** Whether older messages than these exist. */
  hasMore: boolean;
  /** The conversation's seq the chat had read up to (events after the last message included); absent in older records. */
  upTo?: number;
  savedAt: number;
}

let opened: Promise<IDBDatabase | null> | null = null;

/** The database, or null where IndexedDB is unavailable (a private window may refuse it): the cache is then off. */
function database(): Promise<IDBDatabase | null> {
  opened ??= new Promise((resolve) => {
    if (typeof indexedDB === 'undefined') return resolve(null);
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: 'key' }).createIndex('userId', 'userId');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);
  });
  return opened;
}

function done<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export async function readCachedChat(userId: string, conversationId: string): Promise<CachedChat | null> {
  const db = await database();
  if (!db) return null;
  try {
    return ((await done(db.transaction(STORE).objectStore(STORE).get(`${userId}:${conversationId}`))) as CachedChat | undefined) ?? null;
  } catch {
    return null;
  }
}

/** Per chat: a write in flight, and the newest state waiting for it to finish (null: none). */
const writing = new Map<string, CachedChat | null>();

/**
 * Keeps the newest CACHED_MESSAGES of `messages` (seq order) for the chat. Written at once;
 * changes made while a write is in flight are coalesced into one write after it, so what
 * is stored trails what is shown by one write at most (a reload right after a change keeps it).
 */
export function cacheChat(userId: string, conversationId: string, messages: readonly MessageEvent[], hasOlder: boolean, upTo?: number): void {
  const key = `${userId}:${conversationId}`;
  const kept = messages.slice(-CACHED_MESSAGES);
  const chat: CachedChat = { key, userId, messages: kept, hasMore: hasOlder || kept.length < messages.length, ...(upTo === undefined ? {} : { upTo }), savedAt: Date.now() };
  if (writing.has(key)) {
    writing.set(key, chat);
    return;
  }
  writing.set(key, null);
  void (async () => {
    for (let next: CachedChat | null = chat; next; next = writing.get(key) ?? null) {
      writing.set(key, null);
      await write(next);
    }
    writing.delete(key);
  })();
}

async function write(chat: CachedChat): Promise<void> {
  const db = await database();
  if (!db) return;
  try {
    await done(db.transaction(STORE, 'readwrite').objectStore(STORE).put(chat));
  } catch {
    // Out of quota, say: the chat simply is not kept.
  }
}

/** Deletes every chat kept for `userId` (sign-out), including writes not yet made. */
export async function forgetCachedChats(userId: string): Promise<void> {
  // A write in flight finishes first; nothing waiting after it is written.
  for (const key of writing.keys()) if (key.startsWith(`${userId}:`)) writing.set(key, null);
  const db = await database();
  if (!db) return;
  await new Promise<void>((resolve, reject) => {
    const tx = db.transaction(STORE, 'readwrite');
    const store = tx.objectStore(STORE);
    const keys = store.index('userId').getAllKeys(userId);
    // Deleted inside the callback, while the transaction is still active.
    keys.onsuccess = () => keys.result.forEach((key) => store.delete(key));
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}
