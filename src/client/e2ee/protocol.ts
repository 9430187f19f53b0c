/**
 * @module client/e2ee/protocol
 * The high-level API over a ProtocolStore: start sessions from prekey bundles, encrypt
 * and decrypt pairwise messages, run Sender Key groups, and compute safety numbers.
 *
 * Each call loads what it needs, works on copies and stores the result only when it
 * succeeded, so a message that fails leaves every session as it was. Calls for the same
 * session (or the same group chain) run one after another, never interleaved.
 *
 * @example
 * const alice = new E2ee({ store, localAddress: { userId: 'alice', deviceId: 'phone' } });
 * await alice.processPreKeyBundle(bob, bundle);
 * const { kind, data } = await alice.encrypt(bob, utf8('hi'));
 * // … on Bob's device: await bobE2ee.decrypt(alice, kind, data)
 */
import type { PreKeyBundle as WirePreKeyBundle } from '../../protocol/keys.js';
import { equalBytes, utf8, type Bytes } from './bytes.js';
import { generateKeyPair } from './curve.js';
import { InvalidMessageError, MissingPreKeyError, NoSessionError, UntrustedIdentityError } from './errors.js';
import { safetyNumber, type SafetyNumber } from './fingerprint.js';
import { bundleFromWire, verifyBundle, type PreKeyBundle } from './keys.js';
import { CIPHERTEXT_MESSAGE_CURRENT_VERSION, decodePreKeySignalMessage, decodeSignalMessage } from './messages.js';
import { decodeDistribution, distributionOf, newOwnSenderKey, processDistributionInto, senderKeyDecrypt, senderKeyEncrypt, type SenderKeyRecord } from './sender-keys.js';
import { fromJson, toJson, type Json } from './serialize.js';
import { decryptWithRecord, emptyRecord, encryptWithState, hasBaseKey, initializeAliceSession, initializeBobSession, promoteState, type CiphertextKind, type SessionRecord } from './session.js';
import { addressKey, type Address, type ProtocolStore } from './store.js';

export interface E2eeOptions {
  store: ProtocolStore;
  /** This device: its own sender keys are stored under it, and its user id goes into safety numbers. */
  localAddress: Address;
  /**
   * Whether a new identity key for a device of an unverified contact is accepted (with
   * `onIdentityChange` called so the app can show a notice), as Signal does. Default true.
   * A verified contact's change is never accepted here: the app calls `trustIdentity`.
   */
  acceptUnverifiedIdentityChanges?: boolean;
  onIdentityChange?: (address: Address, identityKey: Bytes) => void;
}

export class E2ee {
  private readonly store: ProtocolStore;
  private readonly local: Address;
  private readonly acceptChanges: boolean;
  private readonly onIdentityChange: ((address: Address, identityKey: Bytes) => void) | undefined;
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(options: E2eeOptions) {
    this.store = options.store;
    this.local = options.localAddress;
    this.acceptChanges = options.acceptUnverifiedIdentityChanges ?? true;
    this.onIdentityChange = options.onIdentityChange;
  }

  // ── Pairwise sessions ──────────────────────────────────────────────────────

  /** Starts a session with a device from its prekey bundle (PQXDH as initiator); verifies both prekey signatures. */
  processPreKeyBundle(address: Address, bundle: PreKeyBundle | WirePreKeyBundle): Promise<void> {
    return this.serial(`s:${addressKey(address)}`, async () => {
      const b = typeof bundle.identityKey === 'string' ? bundleFromWire(bundle as WirePreKeyBundle) : (bundle as PreKeyBundle);
      verifyBundle(b);
      const change = await this.checkIdentity(address, b.identityKey);
      const ourIdentity = await this.store.getIdentityKeyPair();
      const baseKey = generateKeyPair();
      const { state, kemCiphertext } = initializeAliceSession({
        ourIdentity,
        ourBaseKey: baseKey,
        theirIdentity: b.identityKey,
        theirSignedPreKey: b.signedPreKey,
        theirRatchetKey: b.signedPreKey,
        theirOneTimePreKey: b.preKey,
        theirKyberPreKey: b.kyberPreKey,
      });
      state.localRegistrationId = await this.store.getLocalRegistrationId();
      state.remoteRegistrationId = b.registrationId;
      state.pendingPreKey = { preKeyId: b.preKey ? b.preKeyId : undefined, signedPreKeyId: b.signedPreKeyId, kyberPreKeyId: b.kyberPreKeyId, kyberCiphertext: kemCiphertext, baseKey: baseKey.publicKey };
      const record = promoteState(await this.loadSessionRecord(address), state);
      await this.rememberIdentity(address, b.identityKey, change);
      await this.store.storeSession(address, toJson(record));
    });
  }

  /** Whether there is a session to encrypt with. */
  async hasSession(address: Address): Promise<boolean> {
    return (await this.loadSessionRecord(address)).current !== undefined;
  }

  /** Encrypts for one device: a 'prekey' message until the device has answered, then 'message'. */
  encrypt(address: Address, plaintext: Uint8Array): Promise<{ kind: CiphertextKind; data: Bytes }> {
    return this.serial(`s:${addressKey(address)}`, async () => {
      const record = await this.loadSessionRecord(address);
      if (!record.current) throw new NoSessionError(addressKey(address));
      const trusted = await this.store.getIdentity(address);
      // The trusted key changed since this session began (trustIdentity): start a new session first.
      if (trusted && !equalBytes(trusted.identityKey, record.current.remoteIdentity)) throw new UntrustedIdentityError(addressKey(address), trusted.identityKey);
      const state = structuredClone(record.current);
      const out = encryptWithState(state, plaintext);
      await this.store.storeSession(address, toJson({ ...record, current: state }));
      return out;
    });
  }

  /** Decrypts one device's message; a 'prekey' message may start a new session (PQXDH as responder). */
  decrypt(address: Address, kind: CiphertextKind, data: Uint8Array): Promise<Bytes> {
    return this.serial(`s:${addressKey(address)}`, () => (kind === 'prekey' ? this.decryptPreKey(address, data) : this.decryptMessage(address, data)));
  }

  private async decryptMessage(address: Address, data: Uint8Array): Promise<Bytes> {
    const message = decodeSignalMessage(data);
    const record = await this.loadSessionRecord(address);
    if (!record.current && record.previous.length === 0) throw new NoSessionError(addressKey(address));
    const out = decryptWithRecord(record, message);
    const trusted = await this.store.getIdentity(address);
    if (trusted && !equalBytes(trusted.identityKey, out.record.current!.remoteIdentity)) throw new UntrustedIdentityError(addressKey(address), out.record.current!.remoteIdentity);
    await this.store.storeSession(address, toJson(out.record));
    return out.plaintext;
  }

  private async decryptPreKey(address: Address, data: Uint8Array): Promise<Bytes> {
    const message = decodePreKeySignalMessage(data);
    const change = await this.checkIdentity(address, message.identityKey);
    let record = await this.loadSessionRecord(address);
    let used: { preKeyId: number | undefined; kyberPreKeyId: number; lastResort: boolean } | undefined;
    if (!hasBaseKey(record, message.version, message.baseKey)) {
      // PQXDH only: a session without the KEM (X3DH, version 3) is refused.
      if (message.version !== CIPHERTEXT_MESSAGE_CURRENT_VERSION || message.kyberPreKeyId === undefined || !message.kyberCiphertext) throw new InvalidMessageError('a post-quantum (PQXDH) prekey message is required');
      const signed = await this.store.loadSignedPreKey(message.signedPreKeyId);
      if (!signed) throw new MissingPreKeyError(`no signed prekey ${message.signedPreKeyId}`);
      const kyber = await this.store.loadKyberPreKey(message.kyberPreKeyId);
      if (!kyber) throw new MissingPreKeyError(`no Kyber prekey ${message.kyberPreKeyId}`);
      const oneTime = message.preKeyId === undefined ? undefined : await this.store.loadPreKey(message.preKeyId);
      if (message.preKeyId !== undefined && !oneTime) throw new MissingPreKeyError(`no one-time prekey ${message.preKeyId}`);
      const state = initializeBobSession({
        ourIdentity: await this.store.getIdentityKeyPair(),
        ourSignedPreKey: signed.keyPair,
        ourOneTimePreKey: oneTime?.keyPair,
        ourRatchetKey: signed.keyPair,
        ourKyberSecretKey: kyber.keyPair.secretKey,
        theirIdentity: message.identityKey,
        theirBaseKey: message.baseKey,
        kyberCiphertext: message.kyberCiphertext,
      });
      state.localRegistrationId = await this.store.getLocalRegistrationId();
      state.remoteRegistrationId = message.registrationId;
      record = promoteState(record, state);
      used = { preKeyId: message.preKeyId, kyberPreKeyId: message.kyberPreKeyId, lastResort: kyber.lastResort };
    }
    const out = decryptWithRecord(record, message.message);
    await this.rememberIdentity(address, message.identityKey, change);
    await this.store.storeSession(address, toJson(out.record));
    // Each one-time prekey serves one session: delete it once that session exists.
    if (used?.preKeyId !== undefined) await this.store.removePreKey(used.preKeyId);
    if (used && !used.lastResort) await this.store.removeKyberPreKey(used.kyberPreKeyId);
    return out.plaintext;
  }

  // ── Identities and safety numbers ──────────────────────────────────────────

  /** Accepts an identity key for a device (after the user saw the new safety number); `verified` marks it compared. */
  async trustIdentity(address: Address, identityKey: Uint8Array, verified = false): Promise<void> {
    await this.store.saveIdentity(address, { identityKey: Uint8Array.from(identityKey), verified });
  }

  /** The identity key on record for a device (and whether it was verified), if any. */
  async trustedIdentity(address: Address): Promise<{ identityKey: Bytes; verified: boolean } | undefined> {
    const known = await this.store.getIdentity(address);
    return known && { identityKey: Uint8Array.from(known.identityKey), verified: known.verified };
  }

  /** Marks (or unmarks) the device's current identity key as verified. */
  async setVerified(address: Address, verified: boolean): Promise<void> {
    const known = await this.store.getIdentity(address);
    if (!known) throw new NoSessionError(addressKey(address));
    await this.store.saveIdentity(address, { ...known, verified });
  }

  /** The safety number between this device and `remote`'s trusted identity key (user ids as the stable identifiers). */
  async safetyNumber(remote: Address): Promise<SafetyNumber> {
    const known = await this.store.getIdentity(remote);
    if (!known) throw new NoSessionError(addressKey(remote));
    const ours = await this.store.getIdentityKeyPair();
    return safetyNumber({ localIdentifier: utf8(this.local.userId), localKey: ours.publicKey, remoteIdentifier: utf8(remote.userId), remoteKey: known.identityKey });
  }

  /** 'new', 'same', or 'changed' (accepted); throws UntrustedIdentityError when a change may not be accepted. */
  private async checkIdentity(address: Address, identityKey: Bytes): Promise<'new' | 'same' | 'changed'> {
    const known = await this.store.getIdentity(address);
    if (!known) return 'new';
    if (equalBytes(known.identityKey, identityKey)) return 'same';
    if (known.verified || !this.acceptChanges) throw new UntrustedIdentityError(addressKey(address), identityKey);
    return 'changed';
  }

  private async rememberIdentity(address: Address, identityKey: Bytes, change: 'new' | 'same' | 'changed'): Promise<void> {
    if (change === 'same') return;
    await this.store.saveIdentity(address, { identityKey, verified: false });
    if (change === 'changed') this.onIdentityChange?.(address, identityKey);
  }

  // ── Sender Keys (groups) ───────────────────────────────────────────────────

  /** Our SenderKeyDistributionMessage for a conversation (creating our chain if needed): send it to each member pairwise. */
  createDistribution(conversationId: string): Promise<Bytes> {
    return this.serial(`g:${conversationId}/${addressKey(this.local)}`, async () => {
      let record = await this.loadSenderKey(conversationId, this.local);
      if (!record?.states[0]?.signingPrivateKey) {
        record = newOwnSenderKey();
        await this.store.storeSenderKey(conversationId, this.local, toJson(record));
      }
      return distributionOf(record);
    });
  }

  /** Forgets our chain for a conversation (a member left or was removed, a device was revoked): the next distribution is a new chain. */
  async rotateSenderKey(conversationId: string): Promise<void> {
    await this.serial(`g:${conversationId}/${addressKey(this.local)}`, () => this.store.removeSenderKey(conversationId, this.local));
  }

  /** Takes a member's distribution message (it came over a pairwise session with `sender`). */
  processDistribution(conversationId: string, sender: Address, data: Uint8Array): Promise<void> {
    return this.serial(`g:${conversationId}/${addressKey(sender)}`, async () => {
      const distribution = decodeDistribution(data);
      const record = processDistributionInto(await this.loadSenderKey(conversationId, sender), distribution);
      await this.store.storeSenderKey(conversationId, sender, toJson(record));
    });
  }

  /** Encrypts once for the whole group with our chain. */
  groupEncrypt(conversationId: string, plaintext: Uint8Array): Promise<Bytes> {
    return this.serial(`g:${conversationId}/${addressKey(this.local)}`, async () => {
      const record = await this.loadSenderKey(conversationId, this.local);
      if (!record?.states[0]?.signingPrivateKey) throw new NoSessionError(`${conversationId}/${addressKey(this.local)}`);
      const data = senderKeyEncrypt(record, plaintext);
      await this.store.storeSenderKey(conversationId, this.local, toJson(record));
      return data;
    });
  }

  /** Decrypts a member's group message. */
  groupDecrypt(conversationId: string, sender: Address, data: Uint8Array): Promise<Bytes> {
    return this.serial(`g:${conversationId}/${addressKey(sender)}`, async () => {
      const record = await this.loadSenderKey(conversationId, sender);
      const plaintext = senderKeyDecrypt(record, data, `${conversationId}/${addressKey(sender)}`);
      await this.store.storeSenderKey(conversationId, sender, toJson(record!));
      return plaintext;
    });
  }

  // ── Helpers ────────────────────────────────────────────────────────────────

  private async loadSessionRecord(address: Address): Promise<SessionRecord> {
    const json = await this.store.loadSession(address);
    return json === undefined ? emptyRecord() : fromJson<SessionRecord>(json);
  }

  /** A fresh copy each time (fromJson builds new objects), so a failed decrypt changes nothing stored. */
  private async loadSenderKey(conversationId: string, sender: Address): Promise<SenderKeyRecord | undefined> {
    const json: Json | undefined = await this.store.loadSenderKey(conversationId, sender);
    return json === undefined ? undefined : fromJson<SenderKeyRecord>(json);
  }

  /** Runs `task` after every earlier task with the same key has settled. */
  private serial<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.queues.get(key) ?? Promise.resolve();
    const run = before.then(task, task);
    const settled = run.catch(() => undefined);
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return run;
  }
}
