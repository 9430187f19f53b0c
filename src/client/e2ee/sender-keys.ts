/**
 * @module client/e2ee/sender-keys
 * Sender Keys for groups, in libsignal's layout: each sender has a chain per conversation
 * (a chain key stepped by HMAC-SHA256 with seeds 0x01 for a message key and 0x02 for the
 * next chain key) and a signing key. The SenderKeyDistributionMessage (sent to each member
 * over a pairwise session) hands out the chain key, its iteration and the public signing
 * key; each SenderKeyMessage is AES-256-CBC with keys from HKDF(seed, "WhisperGroup") and is
 * signed (XEdDSA) by the signing key, so members can read it but not forge it.
 *
 * SenderKeyDistributionMessage: version byte 0x33, protobuf { 1 distribution_uuid,
 * 2 chain_id, 3 iteration, 4 chain_key, 5 signing_key }.
 * SenderKeyMessage: version byte 0x33, protobuf { 1 distribution_uuid, 2 chain_id,
 * 3 iteration, 4 ciphertext }, then a 64-byte signature over all that precedes it.
 */
import { concat, equalBytes, randomBytes, utf8, type Bytes } from './bytes.js';
import { aesCbcDecrypt, aesCbcEncrypt } from './cipher.js';
import { generateKeyPair, publicKeyBytes, SIGNATURE_LENGTH, xeddsaSign, xeddsaVerify } from './curve.js';
import { DuplicateMessageError, InvalidKeyError, InvalidMessageError, NoSessionError } from './errors.js';
import { hkdfSha256, messageKeySeed, nextChainKey } from './kdf.js';
import { ProtobufWriter, readProtobuf, type ProtobufFields } from './protobuf.js';
import { MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS } from './session.js';

export const SENDERKEY_MESSAGE_CURRENT_VERSION = 3;
/** Chains kept per sender and conversation (a sender that rotated may still have messages in flight). */
export const MAX_SENDER_KEY_STATES = 5;
const GROUP_INFO = utf8('WhisperGroup');
const VERSION_BYTE = (SENDERKEY_MESSAGE_CURRENT_VERSION << 4) | SENDERKEY_MESSAGE_CURRENT_VERSION;

export interface SenderKeyState {
  chainId: number;
  chainKey: Bytes;
  iteration: number;
  /** Serialised public signing key (33 bytes). */
  signingKey: Bytes;
  /** Only in our own chains. */
  signingPrivateKey: Bytes | undefined;
  skipped: { iteration: number; seed: Bytes }[];
}

export interface SenderKeyRecord {
  /** libsignal's distribution id: a UUID (16 bytes) naming this sender's chains for one group. */
  distributionId: Bytes;
  /** Newest first. */
  states: SenderKeyState[];
}

export interface SenderKeyDistribution {
  distributionId: Bytes;
  chainId: number;
  iteration: number;
  chainKey: Bytes;
  signingKey: Bytes;
}

function senderMessageKeys(seed: Uint8Array): { iv: Bytes; cipherKey: Bytes } {
  const okm = hkdfSha256(seed, undefined, GROUP_INFO, 48);
  return { iv: okm.slice(0, 16), cipherKey: okm.slice(16, 48) };
}

/** A random version-4 UUID, as bytes. */
export function randomUuid(): Bytes {
  const id = randomBytes(16);
  id[6] = (id[6]! & 0x0f) | 0x40;
  id[8] = (id[8]! & 0x3f) | 0x80;
  return id;
}

/** A new own chain: random chain key and id (31 bits, as libsignal draws it), a fresh signing key. */
export function newOwnSenderKey(distributionId: Bytes = randomUuid()): SenderKeyRecord {
  const signing = generateKeyPair();
  const chainId = new DataView(randomBytes(4).buffer).getUint32(0) >>> 1;
  return { distributionId, states: [{ chainId, chainKey: randomBytes(32), iteration: 0, signingKey: signing.publicKey, signingPrivateKey: signing.privateKey, skipped: [] }] };
}

/** The distribution message for our own current chain, from its current iteration. */
export function distributionOf(record: SenderKeyRecord): Bytes {
  const state = record.states[0];
  if (!state?.signingPrivateKey) throw new InvalidKeyError('not an own sender key');
  const proto = new ProtobufWriter().bytes(1, record.distributionId).uint(2, state.chainId).uint(3, state.iteration).bytes(4, state.chainKey).bytes(5, state.signingKey).finish();
  return concat([VERSION_BYTE], proto);
}

function parseVersioned(data: Uint8Array, trailer: number): ProtobufFields {
  if (data.length < 1 + trailer) throw new InvalidMessageError('message too short');
  const version = data[0]! >> 4;
  if (version !== SENDERKEY_MESSAGE_CURRENT_VERSION) throw new InvalidMessageError(`unknown sender key message version ${version}`);
  try {
    return readProtobuf(data.subarray(1, data.length - trailer));
  } catch (cause) {
    throw new InvalidMessageError('malformed protobuf', { cause });
  }
}

export function decodeDistribution(data: Uint8Array): SenderKeyDistribution {
  const f = parseVersioned(data, 0);
  const distributionId = f.bytes.get(1);
  const chainId = f.uints.get(2);
  const iteration = f.uints.get(3);
  const chainKey = f.bytes.get(4);
  const signingKey = f.bytes.get(5);
  if (distributionId?.length !== 16 || chainId === undefined || iteration === undefined || chainKey?.length !== 32 || !signingKey) throw new InvalidMessageError('incomplete sender key distribution message');
  publicKeyBytes(signingKey);
  return { distributionId, chainId, iteration, chainKey, signingKey };
}

/**
 * Adds a member's chain to their record (or starts the record). The same chain offered
 * again changes nothing: resetting its iteration would let old messages decrypt twice.
 */
export function processDistributionInto(record: SenderKeyRecord | undefined, d: SenderKeyDistribution): SenderKeyRecord {
  const same = record && equalBytes(record.distributionId, d.distributionId) ? record.states : [];
  if (same.some((s) => s.chainId === d.chainId && equalBytes(s.signingKey, d.signingKey))) return record!;
  const others = same.filter((s) => s.chainId !== d.chainId);
  const state: SenderKeyState = { chainId: d.chainId, chainKey: d.chainKey, iteration: d.iteration, signingKey: d.signingKey, signingPrivateKey: undefined, skipped: [] };
  return { distributionId: d.distributionId, states: [state, ...others].slice(0, MAX_SENDER_KEY_STATES) };
}

/** Encrypts and signs with our own chain (changing the record: pass a copy). */
export function senderKeyEncrypt(record: SenderKeyRecord, plaintext: Uint8Array): Bytes {
  const state = record.states[0];
  if (!state?.signingPrivateKey) throw new InvalidKeyError('not an own sender key');
  const keys = senderMessageKeys(messageKeySeed(state.chainKey));
  const proto = new ProtobufWriter()
    .bytes(1, record.distributionId)
    .uint(2, state.chainId)
    .uint(3, state.iteration)
    .bytes(4, aesCbcEncrypt(keys.cipherKey, keys.iv, plaintext))
    .finish();
  const body = concat([VERSION_BYTE], proto);
  state.chainKey = nextChainKey(state.chainKey);
  state.iteration += 1;
  return concat(body, xeddsaSign(state.signingPrivateKey, body));
}

function seedFor(state: SenderKeyState, iteration: number): Bytes {
  if (iteration < state.iteration) {
    const at = state.skipped.findIndex((k) => k.iteration === iteration);
    if (at < 0) throw new DuplicateMessageError(`group message ${iteration} was already decrypted`);
    return state.skipped.splice(at, 1)[0]!.seed;
  }
  if (iteration - state.iteration > MAX_FORWARD_JUMPS) throw new InvalidMessageError('message from too far into the future');
  let key = state.chainKey;
  for (let i = state.iteration; i < iteration; i++) {
    state.skipped.push({ iteration: i, seed: messageKeySeed(key) });
    if (state.skipped.length > MAX_MESSAGE_KEYS) state.skipped.shift();
    key = nextChainKey(key);
  }
  state.chainKey = nextChainKey(key);
  state.iteration = iteration + 1;
  return messageKeySeed(key);
}

/**
 * Verifies and decrypts a member's message (changing the record: pass a copy). The
 * signature is checked before any key is derived, so a forged message costs nothing and
 * changes nothing.
 */
export function senderKeyDecrypt(record: SenderKeyRecord | undefined, data: Uint8Array, sender: string): Bytes {
  const f = parseVersioned(data, SIGNATURE_LENGTH);
  const distributionId = f.bytes.get(1);
  const chainId = f.uints.get(2);
  const iteration = f.uints.get(3);
  const ciphertext = f.bytes.get(4);
  if (!distributionId || chainId === undefined || iteration === undefined || !ciphertext) throw new InvalidMessageError('incomplete sender key message');
  if (!record || !equalBytes(record.distributionId, distributionId)) throw new NoSessionError(sender);
  const state = record.states.find((s) => s.chainId === chainId);
  if (!state) throw new NoSessionError(sender);
  const body = data.subarray(0, data.length - SIGNATURE_LENGTH);
  if (!xeddsaVerify(state.signingKey, body, data.subarray(data.length - SIGNATURE_LENGTH))) throw new InvalidMessageError('signature verification failed');
  const keys = senderMessageKeys(seedFor(state, iteration));
  return aesCbcDecrypt(keys.cipherKey, keys.iv, ciphertext);
}
