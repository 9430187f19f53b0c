/**
 * @module client/e2ee/end-to-end
 * End-to-end encryption for one signed-in device, as ChatClient uses it: the device's keys
 * made once and published, its signed prekeys rotated when due (./rotation.ts) at each
 * start, its one-time prekeys topped up when the server says they run low, a codec for each open conversation, device-list changes noted wherever they are
 * seen, and safety numbers with a verified mark.
 *
 * Where the state lives is the app's choice (`E2eeStorage`): memory by default, so a
 * restarted process is a new device to its contacts (it must sign in again: the server
 * keeps a device's identity key fixed).
 */
import { Ack, type ConversationInfo, type EncryptedContent } from '../../protocol/index.js';
import { Emitter } from '../emitter.js';
import type { ChatError } from '../errors.js';
import type { HttpApi } from '../http.js';
import { newCmid } from '../outbox.js';
import { ConversationCodec, type E2eeNotice } from './codec.js';
import { generateDeviceKeys, deviceUploadBody, storeDeviceKeys, type DeviceKeys } from './device.js';
import { KeyDirectory } from './directory.js';
import { toBase64url } from './bytes.js';
import { generateKyberPreKey, generatePreKeys } from './keys.js';
import { NEXT_KYBER_ID, recordFirstGeneration, rotateSignedPreKeys } from './rotation.js';
import { MemoryE2eeMemory, Messenger, type E2eeMemory } from './messenger.js';
import { E2ee } from './protocol.js';
import { InMemoryProtocolStore, type Address, type ProtocolStore } from './store.js';
import type { SafetyNumber } from './fingerprint.js';

/** A device's encryption state: its protocol store and what it remembers of its conversations. */
export interface E2eeState {
  store: ProtocolStore;
  memory: E2eeMemory;
}

/** Where a device's encryption state is kept, by device. */
export interface E2eeStorage {
  /** The device's state, or null before it made its keys. */
  open(device: Address): Promise<E2eeState | null>;
  /** Keeps a new device's keys and returns its (empty otherwise) state. */
  create(device: Address, keys: DeviceKeys): Promise<E2eeState>;
}

export class MemoryE2eeStorage implements E2eeStorage {
  readonly #devices = new Map<string, E2eeState>();

  async open(device: Address): Promise<E2eeState | null> {
    return this.#devices.get(`${device.userId}/${device.deviceId}`) ?? null;
  }

  async create(device: Address, keys: DeviceKeys): Promise<E2eeState> {
    const store = new InMemoryProtocolStore(keys.identity, keys.registrationId);
    await storeDeviceKeys(store, keys);
    const state = { store, memory: new MemoryE2eeMemory() };
    this.#devices.set(`${device.userId}/${device.deviceId}`, state);
    return state;
  }
}

export interface Undecryptable {
  conversationId: string;
  seq: number;
  error: ChatError;
}

export interface SessionReset {
  conversationId: string;
  seq: number;
  userId: string;
  deviceId: string;
}

export interface EndToEndEvents extends Record<string, unknown> {
  /** A device's identity key changed (a new install, or an attack): its safety number is new. */
  identityChanged: Address;
  /** One message could not be decrypted on this device (the others still can). */
  undecryptable: Undecryptable;
  /** A device started a new secure session with this one, after it could not decrypt (it needs no action). */
  sessionReset: SessionReset;
}

/** Ids of one-time prekeys made after the first batch continue from this counter (Kyber's: rotation.ts). */
const NEXT_PREKEY_ID = 'nextPreKeyId';

export class EndToEnd extends Emitter<EndToEndEvents> {
  readonly directory: KeyDirectory;
  readonly #e2ee: E2ee;
  readonly #messenger: Messenger;
  readonly #state: E2eeState;
  readonly #api: HttpApi;
  #replenishing: Promise<void> | null = null;

  private constructor(
    readonly self: Address,
    api: HttpApi,
    state: E2eeState,
  ) {
    super();
    this.#state = state;
    this.#api = api;
    this.directory = new KeyDirectory(api);
    this.#e2ee = new E2ee({ store: state.store, localAddress: self, onIdentityChange: (address) => this.emit('identityChanged', address) });
    this.#messenger = new Messenger(self, this.directory, this.#e2ee, state.memory);
  }

  /** The device's encryption, its keys made and published on first use. */
  static async start(api: HttpApi, self: Address, storage: E2eeStorage): Promise<EndToEnd> {
    const state = (await storage.open(self)) ?? (await EndToEnd.#create(api, self, storage));
    const endToEnd = new EndToEnd(self, api, state);
    // Upkeep needs the network; a device that has its keys works offline without it.
    void endToEnd.upkeep().catch(() => undefined);
    return endToEnd;
  }

  /**
   * A new device's keys: published first and kept only once the server has them, so a
   * failed upload leaves nothing half made (the next start makes new ones).
   */
  static async #create(api: HttpApi, self: Address, storage: E2eeStorage): Promise<E2eeState> {
    const keys = generateDeviceKeys();
    await new KeyDirectory(api).upload(deviceUploadBody(keys));
    const state = await storage.create(self, keys);
    await state.memory.setCounter(NEXT_PREKEY_ID, keys.preKeys.length + 1);
    await state.memory.setCounter(NEXT_KYBER_ID, keys.kyberPreKeys.length + 2);
    await recordFirstGeneration(state.memory, keys);
    return state;
  }

  /** Rotates the signed prekeys when due and tops the one-time ones up; run at each start. */
  async upkeep(): Promise<void> {
    await rotateSignedPreKeys(this.#state.store, this.#state.memory, this.directory);
    await this.replenish();
  }

  codec(conversationId: string, fetchInfo: () => Promise<ConversationInfo>): ConversationCodec {
    const notify = (notice: E2eeNotice) => {
      if (notice.type === 'undecryptable') this.emit('undecryptable', { conversationId, seq: notice.seq, error: notice.error });
      else this.emit('sessionReset', { conversationId, seq: notice.seq, ...notice.device });
    };
    const post = async (content: EncryptedContent) => {
      await this.#api.request('POST', `/conversations/${encodeURIComponent(conversationId)}/messages`, { body: { cmid: newCmid(), content }, schema: Ack });
    };
    return new ConversationCodec(conversationId, this.#messenger, fetchInfo, notify, post);
  }

  /** Tops the one-time prekeys up to a full stock when either kind is low; one run at a time. */
  replenish(): Promise<void> {
    this.#replenishing ??= this.#replenish().finally(() => (this.#replenishing = null));
    return this.#replenishing;
  }

  async #replenish(): Promise<void> {
    const status = await this.directory.status();
    if (!status) return;
    const { oneTime, pqOneTime } = KeyDirectory.shortfall(status);
    if (oneTime === 0 && pqOneTime === 0) return;
    const { store, memory } = this.#state;
    const identity = await store.getIdentityKeyPair();
    const firstPreKey = (await memory.getCounter(NEXT_PREKEY_ID)) ?? 1;
    const firstKyber = (await memory.getCounter(NEXT_KYBER_ID)) ?? 1;
    const preKeys = generatePreKeys(firstPreKey, oneTime);
    const kyberPreKeys = Array.from({ length: pqOneTime }, (_, i) => generateKyberPreKey(identity, firstKyber + i, false));
    for (const key of preKeys) await store.storePreKey(key);
    for (const key of kyberPreKeys) await store.storeKyberPreKey(key);
    await memory.setCounter(NEXT_PREKEY_ID, firstPreKey + oneTime);
    await memory.setCounter(NEXT_KYBER_ID, firstKyber + pqOneTime);
    await this.directory.addPreKeys({
      oneTimePreKeys: preKeys.map((k) => ({ keyId: k.keyId, publicKey: toBase64url(k.keyPair.publicKey) })),
      pqOneTimePreKeys: kyberPreKeys.map((k) => ({ keyId: k.keyId, publicKey: toBase64url(k.keyPair.publicKey), signature: toBase64url(k.signature) })),
    });
  }

  /** A `devices_changed` event seen anywhere (the device stream too): the next send reads that user's devices again. */
  noteDevicesChanged(userId: string, version: number): void {
    this.directory.noteChanged(userId, version);
  }

  /** The 60-digit safety number between this device and one of `userId`'s devices. */
  safetyNumber(device: Address): Promise<SafetyNumber> {
    return this.#e2ee.safetyNumber(device);
  }

  /** Whether sends to that device wait for `acceptDevice` (a new device of a contact this device verified). */
  awaitsAcceptance(device: Address): Promise<boolean> {
    return this.#messenger.awaitsAcceptance(device);
  }

  /** Takes a new device of a verified contact after the user saw it (sends to that user fail with `untrusted_identity` until then). */
  acceptDevice(device: Address): Promise<void> {
    return this.#messenger.acceptDevice(device);
  }

  /** Marks a device's current identity as compared in person (a later change is then never accepted silently). */
  setVerified(device: Address, verified: boolean): Promise<void> {
    return this.#messenger.setVerified(device, verified);
  }
}
