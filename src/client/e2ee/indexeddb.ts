/**
 * @module client/e2ee/indexeddb
 * A device's encryption state in the browser's IndexedDB, so a reload is the same device
 * with the same keys and sessions (with the default memory storage it would have to sign
 * in again). One database per device (`<prefix>:<userId>:<deviceId>`), one object store
 * per kind of record: the device's identity key pair and registration id, the identities
 * it trusts, its prekeys of each kind, sessions, sender keys (the ProtocolStore), and what
 * it remembers of its conversations (the E2eeMemory: decrypted contents, sender-key
 * distributions, counters). Records are kept as they are: Uint8Arrays survive IndexedDB's
 * structured clone, and sessions and sender keys are JSON-safe already.
 *
 * `clear(device)` deletes the device's database: call it at sign-out, so nothing of a
 * signed-out device's keys or plaintext stays in the browser.
 *
 * Each call is its own transaction. The SDK serialises the operations of one session, and
 * writes a ratchet's new state only after a message decrypted, so a write lost to a crash
 * costs at most that message. Two tabs of one device would advance the same ratchets
 * apart: an app with several tabs should let one of them hold the device (e.g. with the
 * Web Locks API).
 */
import type { Address, ProtocolStore, TrustedIdentity } from './store.js';
import { addressKey } from './store.js';
import type { KeyPair } from './curve.js';
import type { KyberPreKeyRecord, PreKeyRecord, SignedPreKeyRecord } from './keys.js';
import type { Json } from './serialize.js';
import type { Distribution, E2eeMemory } from './messenger.js';
import type { InnerContent } from './payload.js';
import { storeDeviceKeys, type DeviceKeys } from './device.js';
import type { E2eeState, E2eeStorage } from './end-to-end.js';
import { committed, settled } from '../idb.js';

/** The schema's version: bump it (and migrate in `onupgradeneeded`) when the stores change. */
const SCHEMA_VERSION = 1;

/** Object stores, all with out-of-line keys. */
const S = {
  /** `identity` (the key pair) and `registrationId`. */
  device: 'device',
  identities: 'identities',
  preKeys: 'preKeys',
  signedPreKeys: 'signedPreKeys',
  kyberPreKeys: 'kyberPreKeys',
  sessions: 'sessions',
  senderKeys: 'senderKeys',
  /** Keyed by `[conversationId, key]`; the value is `{ content }` (null content is a key-only message). */
  contents: 'contents',
  distributions: 'distributions',
  counters: 'counters',
} as const;

export const DEFAULT_E2EE_DATABASE_PREFIX = 'edge-chat-e2ee';

/**
 * @example
 * const storage = new IndexedDbE2eeStorage();
 * await client.enableEncryption(storage);
 * // at sign-out, with the device read before logout():
 * await client.logout();
 * await storage.clear(device);
 */
export class IndexedDbE2eeStorage implements E2eeStorage {
  readonly #prefix: string;
  readonly #open = new Map<string, Promise<IDBDatabase>>();

  constructor(prefix: string = DEFAULT_E2EE_DATABASE_PREFIX) {
    this.#prefix = prefix;
  }

  /** The name of `device`'s database. */
  databaseName(device: Address): string {
    return `${this.#prefix}:${device.userId}:${device.deviceId}`;
  }

  async open(device: Address): Promise<E2eeState | null> {
    const db = await this.#database(device);
    const identity = await read<KeyPair>(db, S.device, 'identity');
    if (!identity) return null;
    return state(db);
  }

  async create(device: Address, keys: DeviceKeys): Promise<E2eeState> {
    const db = await this.#database(device);
    const tx = db.transaction(S.device, 'readwrite');
    tx.objectStore(S.device).put(keys.identity, 'identity');
    tx.objectStore(S.device).put(keys.registrationId, 'registrationId');
    await committed(tx);
    const created = state(db);
    await storeDeviceKeys(created.store, keys);
    return created;
  }

  /** Deletes `device`'s database: its keys, sessions and remembered plaintext (sign-out). */
  async clear(device: Address): Promise<void> {
    const name = this.databaseName(device);
    const opened = this.#open.get(name);
    this.#open.delete(name);
    if (opened) (await opened.catch(() => null))?.close();
    await deleteDatabase(name);
  }

  /**
   * Deletes the databases of this prefix but `keep`'s: devices of this browser signed out
   * without `clear()` (a session revoked from elsewhere, say). Where the browser cannot
   * list databases (`indexedDB.databases()`), nothing is deleted.
   */
  async clearOthers(keep: Address | null): Promise<string[]> {
    if (typeof indexedDB.databases !== 'function') return [];
    const kept = keep ? this.databaseName(keep) : null;
    const names = (await indexedDB.databases()).flatMap((d) => (d.name && d.name.startsWith(`${this.#prefix}:`) && d.name !== kept ? [d.name] : []));
    for (const name of names) {
      const opened = this.#open.get(name);
      this.#open.delete(name);
      if (opened) (await opened.catch(() => null))?.close();
      await deleteDatabase(name);
    }
    return names;
  }

  #database(device: Address): Promise<IDBDatabase> {
    const name = this.databaseName(device);
    let opened = this.#open.get(name);
    if (!opened) {
      opened = openDatabase(name).catch((error: unknown) => {
        this.#open.delete(name); // let the next call try again
        throw error;
      });
      opened.then((db) => {
        // Another tab deleting the database (its sign-out) or upgrading it waits for this connection.
        db.onversionchange = () => {
          db.close();
          if (this.#open.get(name) === opened) this.#open.delete(name);
        };
      }, () => undefined);
      this.#open.set(name, opened);
    }
    return opened;
  }
}

function state(db: IDBDatabase): E2eeState {
  return { store: new IndexedDbProtocolStore(db), memory: new IndexedDbE2eeMemory(db) };
}

/** The ProtocolStore over one device's database. Only the identity key pair and registration id, which never change, are cached. */
export class IndexedDbProtocolStore implements ProtocolStore {
  #identity: KeyPair | null = null;
  #registrationId: number | null = null;

  constructor(private readonly db: IDBDatabase) {}

  async getIdentityKeyPair(): Promise<KeyPair> {
    this.#identity ??= (await read<KeyPair>(this.db, S.device, 'identity')) ?? null;
    if (!this.#identity) throw new Error('This device has no identity key in IndexedDB (its storage was cleared).');
    return this.#identity;
  }
  async getLocalRegistrationId(): Promise<number> {
    this.#registrationId ??= (await read<number>(this.db, S.device, 'registrationId')) ?? null;
    if (this.#registrationId === null) throw new Error('This device has no registration id in IndexedDB (its storage was cleared).');
    return this.#registrationId;
  }

  getIdentity(address: Address): Promise<TrustedIdentity | undefined> {
    return read(this.db, S.identities, addressKey(address));
  }
  saveIdentity(address: Address, identity: TrustedIdentity): Promise<void> {
    return write(this.db, S.identities, addressKey(address), identity);
  }

  loadPreKey(keyId: number): Promise<PreKeyRecord | undefined> {
    return read(this.db, S.preKeys, keyId);
  }
  storePreKey(record: PreKeyRecord): Promise<void> {
    return write(this.db, S.preKeys, record.keyId, record);
  }
  removePreKey(keyId: number): Promise<void> {
    return remove(this.db, S.preKeys, keyId);
  }

  loadSignedPreKey(keyId: number): Promise<SignedPreKeyRecord | undefined> {
    return read(this.db, S.signedPreKeys, keyId);
  }
  storeSignedPreKey(record: SignedPreKeyRecord): Promise<void> {
    return write(this.db, S.signedPreKeys, record.keyId, record);
  }
  removeSignedPreKey(keyId: number): Promise<void> {
    return remove(this.db, S.signedPreKeys, keyId);
  }

  loadKyberPreKey(keyId: number): Promise<KyberPreKeyRecord | undefined> {
    return read(this.db, S.kyberPreKeys, keyId);
  }
  storeKyberPreKey(record: KyberPreKeyRecord): Promise<void> {
    return write(this.db, S.kyberPreKeys, record.keyId, record);
  }
  removeKyberPreKey(keyId: number): Promise<void> {
    return remove(this.db, S.kyberPreKeys, keyId);
  }

  loadSession(address: Address): Promise<Json | undefined> {
    return read(this.db, S.sessions, addressKey(address));
  }
  storeSession(address: Address, record: Json): Promise<void> {
    return write(this.db, S.sessions, addressKey(address), record);
  }
  removeSession(address: Address): Promise<void> {
    return remove(this.db, S.sessions, addressKey(address));
  }

  loadSenderKey(conversationId: string, sender: Address): Promise<Json | undefined> {
    return read(this.db, S.senderKeys, [conversationId, addressKey(sender)]);
  }
  storeSenderKey(conversationId: string, sender: Address, record: Json): Promise<void> {
    return write(this.db, S.senderKeys, [conversationId, addressKey(sender)], record);
  }
  removeSenderKey(conversationId: string, sender: Address): Promise<void> {
    return remove(this.db, S.senderKeys, [conversationId, addressKey(sender)]);
  }
}

/** The E2eeMemory over one device's database. */
export class IndexedDbE2eeMemory implements E2eeMemory {
  constructor(private readonly db: IDBDatabase) {}

  async getContent(conversationId: string, key: string): Promise<InnerContent | null | undefined> {
    return (await read<{ content: InnerContent | null }>(this.db, S.contents, [conversationId, key]))?.content;
  }
  putContent(conversationId: string, key: string, content: InnerContent | null): Promise<void> {
    return write(this.db, S.contents, [conversationId, key], { content });
  }
  async getDistribution(conversationId: string): Promise<Distribution | null> {
    return (await read<Distribution>(this.db, S.distributions, conversationId)) ?? null;
  }
  setDistribution(conversationId: string, distribution: Distribution | null): Promise<void> {
    return distribution ? write(this.db, S.distributions, conversationId, distribution) : remove(this.db, S.distributions, conversationId);
  }
  getCounter(name: string): Promise<number | undefined> {
    return read(this.db, S.counters, name);
  }
  setCounter(name: string, value: number): Promise<void> {
    return write(this.db, S.counters, name, value);
  }
}

function openDatabase(name: string): Promise<IDBDatabase> {
  return new Promise<IDBDatabase>((resolve, reject) => {
    const request = indexedDB.open(name, SCHEMA_VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      for (const store of Object.values(S)) if (!db.objectStoreNames.contains(store)) db.createObjectStore(store);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
    // Another tab holds an older version open: it closes on `versionchange`, then this proceeds.
  });
}

function deleteDatabase(name: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
    // `blocked`: another tab's connection has not closed yet; success follows once it does.
  });
}

async function read<T>(db: IDBDatabase, store: string, key: IDBValidKey): Promise<T | undefined> {
  return (await settled(db.transaction(store, 'readonly').objectStore(store).get(key))) as T | undefined;
}

function write(db: IDBDatabase, store: string, key: IDBValidKey, value: unknown): Promise<void> {
  const tx = db.transaction(store, 'readwrite');
  tx.objectStore(store).put(value, key);
  return committed(tx);
}

function remove(db: IDBDatabase, store: string, key: IDBValidKey): Promise<void> {
  const tx = db.transaction(store, 'readwrite');
  tx.objectStore(store).delete(key);
  return committed(tx);
}
