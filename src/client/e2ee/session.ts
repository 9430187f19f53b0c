/**
 * @module client/e2ee/session
 * The Double Ratchet (signal.org/docs/specifications/doubleratchet) with libsignal's
 * session state and message layout.
 *
 * A session state holds the root key, one sending chain, up to MAX_RECEIVER_CHAINS
 * receiving chains (one per ratchet key the peer used), and for each receiving chain the
 * seeds of skipped message keys, at most MAX_MESSAGE_KEYS, oldest dropped first. A message
 * may jump at most MAX_FORWARD_JUMPS ahead in its chain: the bound on work an attacker can
 * cause with one forged counter. A message key is derived, used once and forgotten: a
 * replay finds no key and fails as a duplicate.
 *
 * Every function that changes state works on a copy the caller commits only on success,
 * so a message that fails (tampered, replayed, from a dead session) never changes the
 * session: see decryptWithRecord.
 */
import { equalBytes, type Bytes } from './bytes.js';
import { aesCbcDecrypt, aesCbcEncrypt } from './cipher.js';
import { generateKeyPair, type KeyPair } from './curve.js';
import { DuplicateMessageError, InvalidMessageError } from './errors.js';
import { createChain, deriveMessageKeys, messageKeySeed, nextChainKey } from './kdf.js';
import { CIPHERTEXT_MESSAGE_CURRENT_VERSION, CIPHERTEXT_MESSAGE_PRE_KYBER_VERSION, encodePreKeySignalMessage, encodeSignalMessage, verifySignalMessageMac, type SignalMessage } from './messages.js';
import { pqxdhInitiate, pqxdhRespond } from './pqxdh.js';

/** libsignal's bounds (rust/protocol/src/consts.rs). */
export const MAX_FORWARD_JUMPS = 25_000;
export const MAX_MESSAGE_KEYS = 2_000;
export const MAX_RECEIVER_CHAINS = 5;
export const ARCHIVED_STATES_MAX_LENGTH = 40;

export interface SkippedKey {
  index: number;
  /** HMAC(chain key, 0x01): the message keys are derived from it when the message comes. */
  seed: Bytes;
}

export interface ReceiverChain {
  ratchetKey: Bytes;
  chainKey: Bytes;
  /** The index of `chainKey`: every message key below it was used or is in `skipped`. */
  index: number;
  skipped: SkippedKey[];
}

export interface PendingPreKey {
  preKeyId: number | undefined;
  signedPreKeyId: number;
  kyberPreKeyId: number | undefined;
  kyberCiphertext: Bytes | undefined;
  baseKey: Bytes;
}

export interface SessionState {
  version: number;
  localIdentity: Bytes;
  remoteIdentity: Bytes;
  localRegistrationId: number;
  remoteRegistrationId: number;
  rootKey: Bytes;
  /** The initiator's PQXDH base key: tells a repeated prekey message from a new session. */
  aliceBaseKey: Bytes;
  senderChain: { ratchetKey: KeyPair; chainKey: Bytes; index: number };
  previousCounter: number;
  receiverChains: ReceiverChain[];
  /** Set on the initiator until the first reply: each message then carries the PQXDH data. */
  pendingPreKey: PendingPreKey | undefined;
}

/** The current session with a device and earlier ones kept to read late messages. */
export interface SessionRecord {
  current: SessionState | undefined;
  previous: SessionState[];
}

export function emptyRecord(): SessionRecord {
  return { current: undefined, previous: [] };
}

export interface AliceParameters {
  ourIdentity: KeyPair;
  ourBaseKey: KeyPair;
  theirIdentity: Bytes;
  theirSignedPreKey: Bytes;
  /** The key Bob's first sending chain uses: his signed prekey in PQXDH. */
  theirRatchetKey: Bytes;
  theirOneTimePreKey?: Bytes | undefined;
  theirKyberPreKey?: Bytes | undefined;
}

/** The initiator's state after PQXDH (X3DH when no KEM key is given: test vectors only). */
export function initializeAliceSession(p: AliceParameters): { state: SessionState; kemCiphertext: Bytes | undefined } {
  const initial = pqxdhInitiate({
    ourIdentity: p.ourIdentity,
    ourBaseKey: p.ourBaseKey,
    theirIdentity: p.theirIdentity,
    theirSignedPreKey: p.theirSignedPreKey,
    theirOneTimePreKey: p.theirOneTimePreKey,
    theirKemPreKey: p.theirKyberPreKey,
  });
  const sendingRatchet = generateKeyPair();
  const sending = createChain(initial.rootKey, p.theirRatchetKey, sendingRatchet.privateKey);
  const state: SessionState = {
    version: initial.kemCiphertext ? CIPHERTEXT_MESSAGE_CURRENT_VERSION : CIPHERTEXT_MESSAGE_PRE_KYBER_VERSION,
    localIdentity: p.ourIdentity.publicKey,
    remoteIdentity: p.theirIdentity,
    localRegistrationId: 0,
    remoteRegistrationId: 0,
    rootKey: sending.rootKey,
    aliceBaseKey: p.ourBaseKey.publicKey,
    senderChain: { ratchetKey: sendingRatchet, chainKey: sending.chainKey, index: 0 },
    previousCounter: 0,
    receiverChains: [{ ratchetKey: p.theirRatchetKey, chainKey: initial.chainKey, index: 0, skipped: [] }],
    pendingPreKey: undefined,
  };
  return { state, kemCiphertext: initial.kemCiphertext };
}

export interface BobParameters {
  ourIdentity: KeyPair;
  ourSignedPreKey: KeyPair;
  ourOneTimePreKey?: KeyPair | undefined;
  /** Our first sending ratchet key: the signed prekey in PQXDH. */
  ourRatchetKey: KeyPair;
  ourKyberSecretKey?: Uint8Array | undefined;
  theirIdentity: Bytes;
  theirBaseKey: Bytes;
  kyberCiphertext?: Uint8Array | undefined;
}

export function initializeBobSession(p: BobParameters): SessionState {
  const initial = pqxdhRespond({
    ourIdentity: p.ourIdentity,
    ourSignedPreKey: p.ourSignedPreKey,
    ourOneTimePreKey: p.ourOneTimePreKey,
    ourKemSecretKey: p.ourKyberSecretKey,
    theirIdentity: p.theirIdentity,
    theirBaseKey: p.theirBaseKey,
    kemCiphertext: p.kyberCiphertext,
  });
  const hasKem = p.ourKyberSecretKey !== undefined && p.kyberCiphertext !== undefined;
  return {
    version: hasKem ? CIPHERTEXT_MESSAGE_CURRENT_VERSION : CIPHERTEXT_MESSAGE_PRE_KYBER_VERSION,
    localIdentity: p.ourIdentity.publicKey,
    remoteIdentity: p.theirIdentity,
    localRegistrationId: 0,
    remoteRegistrationId: 0,
    rootKey: initial.rootKey,
    aliceBaseKey: p.theirBaseKey,
    senderChain: { ratchetKey: p.ourRatchetKey, chainKey: initial.chainKey, index: 0 },
    previousCounter: 0,
    receiverChains: [],
    pendingPreKey: undefined,
  };
}

export type CiphertextKind = 'prekey' | 'message';

/** Encrypts with a state (changing it: pass a copy, commit it after). */
export function encryptWithState(state: SessionState, plaintext: Uint8Array): { kind: CiphertextKind; data: Bytes } {
  const chain = state.senderChain;
  const keys = deriveMessageKeys(messageKeySeed(chain.chainKey));
  const signalMessage = encodeSignalMessage(
    { version: state.version, ratchetKey: chain.ratchetKey.publicKey, counter: chain.index, previousCounter: state.previousCounter, ciphertext: aesCbcEncrypt(keys.cipherKey, keys.iv, plaintext) },
    keys.macKey,
    state.localIdentity,
    state.remoteIdentity,
  );
  state.senderChain = { ratchetKey: chain.ratchetKey, chainKey: nextChainKey(chain.chainKey), index: chain.index + 1 };
  const pending = state.pendingPreKey;
  if (!pending) return { kind: 'message', data: signalMessage };
  const data = encodePreKeySignalMessage({
    version: state.version,
    registrationId: state.localRegistrationId,
    preKeyId: pending.preKeyId,
    signedPreKeyId: pending.signedPreKeyId,
    kyberPreKeyId: pending.kyberPreKeyId,
    kyberCiphertext: pending.kyberCiphertext,
    baseKey: pending.baseKey,
    identityKey: state.localIdentity,
    message: signalMessage,
  });
  return { kind: 'prekey', data };
}

/** The receiving chain for a ratchet key, stepping the DH ratchet when the key is new. */
function receiverChainFor(state: SessionState, theirRatchetKey: Bytes): ReceiverChain {
  const known = state.receiverChains.find((c) => equalBytes(c.ratchetKey, theirRatchetKey));
  if (known) return known;
  const receiving = createChain(state.rootKey, theirRatchetKey, state.senderChain.ratchetKey.privateKey);
  const ourNewRatchet = generateKeyPair();
  const sending = createChain(receiving.rootKey, theirRatchetKey, ourNewRatchet.privateKey);
  const chain: ReceiverChain = { ratchetKey: theirRatchetKey, chainKey: receiving.chainKey, index: 0, skipped: [] };
  state.rootKey = sending.rootKey;
  state.receiverChains.push(chain);
  if (state.receiverChains.length > MAX_RECEIVER_CHAINS) state.receiverChains.shift();
  state.previousCounter = Math.max(state.senderChain.index - 1, 0);
  state.senderChain = { ratchetKey: ourNewRatchet, chainKey: sending.chainKey, index: 0 };
  return chain;
}

/** The message-key seed for `counter`: a skipped one (removed as it is handed out) or one further along the chain. */
function messageKeySeedFor(chain: ReceiverChain, counter: number): Bytes {
  if (counter < chain.index) {
    const at = chain.skipped.findIndex((k) => k.index === counter);
    if (at < 0) throw new DuplicateMessageError(`message ${counter} was already decrypted (or is older than the ${MAX_MESSAGE_KEYS} kept keys)`);
    return chain.skipped.splice(at, 1)[0]!.seed;
  }
  if (counter - chain.index > MAX_FORWARD_JUMPS) throw new InvalidMessageError('message from too far into the future');
  let key = chain.chainKey;
  for (let i = chain.index; i < counter; i++) {
    chain.skipped.push({ index: i, seed: messageKeySeed(key) });
    if (chain.skipped.length > MAX_MESSAGE_KEYS) chain.skipped.shift();
    key = nextChainKey(key);
  }
  chain.chainKey = nextChainKey(key);
  chain.index = counter + 1;
  return messageKeySeed(key);
}

/** Decrypts with one state (changing it: pass a copy). */
export function decryptWithState(state: SessionState, message: SignalMessage): Bytes {
  if (message.version !== state.version) throw new InvalidMessageError(`message version ${message.version} does not match the session's ${state.version}`);
  const chain = receiverChainFor(state, message.ratchetKey);
  const keys = deriveMessageKeys(messageKeySeedFor(chain, message.counter));
  if (!verifySignalMessageMac(message, keys.macKey, state.remoteIdentity, state.localIdentity)) throw new InvalidMessageError('MAC verification failed');
  const plaintext = aesCbcDecrypt(keys.cipherKey, keys.iv, message.ciphertext);
  // The peer answered: it has the session, so stop sending the PQXDH data.
  state.pendingPreKey = undefined;
  return plaintext;
}

/**
 * Decrypts with the current state, then each earlier one (a late message of a replaced
 * session); returns the plaintext and the record to store. The given record is untouched.
 * A duplicate is reported at once, as libsignal does: its key is gone from every state.
 */
export function decryptWithRecord(record: SessionRecord, message: SignalMessage): { plaintext: Bytes; record: SessionRecord } {
  const states = [record.current, ...record.previous];
  let firstError: unknown;
  for (let i = 0; i < states.length; i++) {
    const original = states[i];
    if (!original) continue;
    const state = structuredClone(original);
    try {
      const plaintext = decryptWithState(state, message);
      const rest = states.filter((s, j) => j !== i && s !== undefined) as SessionState[];
      // A state that worked becomes the current one (libsignal's promote_state).
      return { plaintext, record: { current: state, previous: rest.slice(0, ARCHIVED_STATES_MAX_LENGTH) } };
    } catch (err) {
      if (err instanceof DuplicateMessageError) throw err;
      firstError ??= err;
    }
  }
  if (firstError) throw firstError;
  throw new InvalidMessageError('no session state to decrypt with');
}

/** Makes `state` the current one, archiving the one it replaces. */
export function promoteState(record: SessionRecord, state: SessionState): SessionRecord {
  const previous = record.current ? [record.current, ...record.previous] : [...record.previous];
  return { current: state, previous: previous.slice(0, ARCHIVED_STATES_MAX_LENGTH) };
}

/** The state (current or archived) that a prekey message with this base key already set up. */
export function hasBaseKey(record: SessionRecord, version: number, baseKey: Uint8Array): boolean {
  return [record.current, ...record.previous].some((s) => s !== undefined && s.version === version && equalBytes(s.aliceBaseKey, baseKey));
}
