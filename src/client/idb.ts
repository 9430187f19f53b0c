/**
 * @module client/idb
 * IndexedDB's callbacks as promises, for the SDK's stores kept in browsers (the outbox,
 * end-to-end encryption state).
 */

/** The request's result once it succeeded. */
export function settled<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Resolves once the transaction committed; rejects if it aborted. */
export function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    // A failed request aborts its transaction, and only then is `tx.error` set.
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}
