/**
 * @module client/e2ee/store
 * Where a device keeps its keys and sessions, shaped like libsignal's protocol stores: the
 * identity key pair and registration id, the identities it trusts per device (trust on
 * first use, plus a `verified` mark set after comparing safety numbers), its prekeys of
 * each kind, sessions per (user, device), and sender keys per (conversation, sender).
 *
 * Sessions and sender keys are stored as JSON-safe values (serialize.ts), and written only
 * after an operation succeeded; key records hold Uint8Arrays (structured-cloneable, so an
 * IndexedDB store can keep them as they are). Every method may be async.
 */
import type { Bytes } from './bytes.js';
import type { KeyPair } from './curve.js';
import type { KyberPreKeyRecord, PreKeyRecord, SignedPreKeyRecord } from './keys.js';
import type { Json } from './serialize.js';

/** One device of one user: where a pairwise session goes. */
export interface Address {
  userId: string;
  deviceId: string;
}

/** A stable string for an address (ids are URL-safe, so '.' cannot occur in them). */
export function addressKey(a: Address): string {
  return `${a.userId}.${a.deviceId}`;
}

export interface TrustedIdentity {
  identityKey: Bytes;
  /** Set when the user compared safety numbers; a change of key is then never accepted silently. */
  verified: boolean;
}

export interface ProtocolStore {
  getIdentityKeyPair(): Promise<KeyPair>;
  getLocalRegistrationId(): Promise<number>;

  getIdentity(address: Address): Promise<TrustedIdentity | undefined>;
  saveIdentity(address: Address, identity: TrustedIdentity): Promise<void>;

  loadPreKey(keyId: number): Promise<PreKeyRecord | undefined>;
  storePreKey(record: PreKeyRecord): Promise<void>;
  removePreKey(keyId: number): Promise<void>;

  loadSignedPreKey(keyId: number): Promise<SignedPreKeyRecord | undefined>;
  storeSignedPreKey(record: SignedPreKeyRecord): Promise<void>;
  removeSignedPreKey(keyId: number): Promise<void>;

  loadKyberPreKey(keyId: number): Promise<KyberPreKeyRecord | undefined>;
  storeKyberPreKey(record: KyberPreKeyRecord): Promise<void>;
  removeKyberPreKey(keyId: number): Promise<void>;

  loadSession(address: Address): Promise<Json | undefined>;
  storeSession(address: Address, record: Json): Promise<void>;
  removeSession(address: Address): Promise<void>;

  loadSenderKey(conversationId: string, sender: Address): Promise<Json | undefined>;
  storeSenderKey(conversationId: string, sender: Address, record: Json): Promise<void>;
  removeSenderKey(conversationId: string, sender: Address): Promise<void>;
}

/** The default store: everything in memory, gone when the page or process ends. */
export class InMemoryProtocolStore implements ProtocolStore {
  readonly identities = new Map<string, TrustedIdentity>();
  readonly preKeys = new Map<number, PreKeyRecord>();
  readonly signedPreKeys = new Map<number, SignedPreKeyRecord>();
  readonly kyberPreKeys = new Map<number, KyberPreKeyRecord>();
  readonly sessions = new Map<string, Json>();
  readonly senderKeys = new Map<string, Json>();

  constructor(
    private readonly identityKeyPair: KeyPair,
    private readonly registrationId: number,
  ) {}

  async getIdentityKeyPair(): Promise<KeyPair> {
    return this.identityKeyPair;
  }
  async getLocalRegistrationId(): Promise<number> {
    return this.registrationId;
  }

  async getIdentity(address: Address): Promise<TrustedIdentity | undefined> {
    return this.identities.get(addressKey(address));
  }
  async saveIdentity(address: Address, identity: TrustedIdentity): Promise<void> {
    this.identities.set(addressKey(address), identity);
  }

  async loadPreKey(keyId: number): Promise<PreKeyRecord | undefined> {
    return this.preKeys.get(keyId);
  }
  async storePreKey(record: PreKeyRecord): Promise<void> {
    this.preKeys.set(record.keyId, record);
  }
  async removePreKey(keyId: number): Promise<void> {
    this.preKeys.delete(keyId);
  }

  async loadSignedPreKey(keyId: number): Promise<SignedPreKeyRecord | undefined> {
    return this.signedPreKeys.get(keyId);
  }
  async storeSignedPreKey(record: SignedPreKeyRecord): Promise<void> {
    this.signedPreKeys.set(record.keyId, record);
  }
  async removeSignedPreKey(keyId: number): Promise<void> {
    this.signedPreKeys.delete(keyId);
  }

  async loadKyberPreKey(keyId: number): Promise<KyberPreKeyRecord | undefined> {
    return this.kyberPreKeys.get(keyId);
  }
  async storeKyberPreKey(record: KyberPreKeyRecord): Promise<void> {
    this.kyberPreKeys.set(record.keyId, record);
  }
  async removeKyberPreKey(keyId: number): Promise<void> {
    this.kyberPreKeys.delete(keyId);
  }

  async loadSession(address: Address): Promise<Json | undefined> {
    return this.sessions.get(addressKey(address));
  }
  async storeSession(address: Address, record: Json): Promise<void> {
    this.sessions.set(addressKey(address), record);
  }
  async removeSession(address: Address): Promise<void> {
    this.sessions.delete(addressKey(address));
  }

  async loadSenderKey(conversationId: string, sender: Address): Promise<Json | undefined> {
    return this.senderKeys.get(`${conversationId}/${addressKey(sender)}`);
  }
  async storeSenderKey(conversationId: string, sender: Address, record: Json): Promise<void> {
    this.senderKeys.set(`${conversationId}/${addressKey(sender)}`, record);
  }
  async removeSenderKey(conversationId: string, sender: Address): Promise<void> {
    this.senderKeys.delete(`${conversationId}/${addressKey(sender)}`);
  }
}
