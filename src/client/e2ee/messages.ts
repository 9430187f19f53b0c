/**
 * @module client/e2ee/messages
 * libsignal's pairwise message layout.
 *
 * SignalMessage: one version byte ((session version << 4) | current version), the protobuf
 * { 1 ratchet_key, 2 counter, 3 previous_counter, 4 ciphertext }, and 8 bytes of
 * HMAC-SHA256(mac key, sender identity ‖ receiver identity ‖ version byte ‖ protobuf).
 *
 * PreKeySignalMessage: one version byte, then the protobuf { 1 pre_key_id, 2 base_key,
 * 3 identity_key, 4 message (a whole SignalMessage), 5 registration_id, 6 signed_pre_key_id,
 * 7 kyber_pre_key_id, 8 kyber_ciphertext }. It carries what the responder needs to run
 * PQXDH, and is sent until the initiator hears back.
 */
import { concat, equalBytes, type Bytes } from './bytes.js';
import { publicKeyBytes } from './curve.js';
import { InvalidMessageError } from './errors.js';
import { hmacSha256 } from './kdf.js';
import { ProtobufWriter, readProtobuf, type ProtobufFields } from './protobuf.js';

/** The message version libsignal 0.103 writes in the low nibble (PQXDH sessions). */
export const CIPHERTEXT_MESSAGE_CURRENT_VERSION = 4;
/** The version of X3DH-only sessions (no KEM): read, never created by this SDK. */
export const CIPHERTEXT_MESSAGE_PRE_KYBER_VERSION = 3;
export const MAC_LENGTH = 8;

export interface SignalMessage {
  version: number;
  ratchetKey: Bytes;
  counter: number;
  previousCounter: number;
  ciphertext: Bytes;
  /** The whole message as sent (the MAC covers all but its last 8 bytes). */
  serialized: Bytes;
}

export interface PreKeySignalMessage {
  version: number;
  registrationId: number;
  preKeyId: number | undefined;
  signedPreKeyId: number;
  kyberPreKeyId: number | undefined;
  kyberCiphertext: Bytes | undefined;
  baseKey: Bytes;
  identityKey: Bytes;
  message: SignalMessage;
  serialized: Bytes;
}

function versionByte(version: number): number {
  return ((version & 0xf) << 4) | CIPHERTEXT_MESSAGE_CURRENT_VERSION;
}

function computeMac(macKey: Uint8Array, senderIdentity: Uint8Array, receiverIdentity: Uint8Array, body: Uint8Array): Bytes {
  return hmacSha256(macKey, concat(senderIdentity, receiverIdentity, body)).slice(0, MAC_LENGTH);
}

export function encodeSignalMessage(
  m: { version: number; ratchetKey: Uint8Array; counter: number; previousCounter: number; ciphertext: Uint8Array },
  macKey: Uint8Array,
  senderIdentity: Uint8Array,
  receiverIdentity: Uint8Array,
): Bytes {
  const proto = new ProtobufWriter().bytes(1, m.ratchetKey).uint(2, m.counter).uint(3, m.previousCounter).bytes(4, m.ciphertext).finish();
  const body = concat([versionByte(m.version)], proto);
  return concat(body, computeMac(macKey, senderIdentity, receiverIdentity, body));
}

export function verifySignalMessageMac(m: SignalMessage, macKey: Uint8Array, senderIdentity: Uint8Array, receiverIdentity: Uint8Array): boolean {
  const body = m.serialized.subarray(0, m.serialized.length - MAC_LENGTH);
  return equalBytes(computeMac(macKey, senderIdentity, receiverIdentity, body), m.serialized.subarray(m.serialized.length - MAC_LENGTH));
}

function checkVersion(first: number): number {
  const version = first >> 4;
  if (version < CIPHERTEXT_MESSAGE_PRE_KYBER_VERSION) throw new InvalidMessageError(`legacy message version ${version}`);
  if (version > CIPHERTEXT_MESSAGE_CURRENT_VERSION) throw new InvalidMessageError(`unknown message version ${version}`);
  return version;
}

function parse(data: Uint8Array): ProtobufFields {
  try {
    return readProtobuf(data);
  } catch (cause) {
    throw new InvalidMessageError('malformed protobuf', { cause });
  }
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new InvalidMessageError(`missing ${what}`);
  return value;
}

function ratchetKeyField(value: Bytes): Bytes {
  try {
    publicKeyBytes(value);
  } catch (cause) {
    throw new InvalidMessageError('bad public key in message', { cause });
  }
  return value;
}

export function decodeSignalMessage(data: Uint8Array): SignalMessage {
  if (data.length < MAC_LENGTH + 1) throw new InvalidMessageError('message too short');
  const version = checkVersion(data[0]!);
  const f = parse(data.subarray(1, data.length - MAC_LENGTH));
  return {
    version,
    ratchetKey: ratchetKeyField(required(f.bytes.get(1), 'ratchet key')),
    counter: required(f.uints.get(2), 'counter'),
    previousCounter: f.uints.get(3) ?? 0,
    ciphertext: required(f.bytes.get(4), 'ciphertext'),
    serialized: Uint8Array.from(data),
  };
}

export function encodePreKeySignalMessage(m: Omit<PreKeySignalMessage, 'message' | 'serialized'> & { message: Uint8Array }): Bytes {
  const proto = new ProtobufWriter()
    .uint(1, m.preKeyId)
    .bytes(2, m.baseKey)
    .bytes(3, m.identityKey)
    .bytes(4, m.message)
    .uint(5, m.registrationId)
    .uint(6, m.signedPreKeyId)
    .uint(7, m.kyberPreKeyId)
    .bytes(8, m.kyberCiphertext)
    .finish();
  return concat([versionByte(m.version)], proto);
}

export function decodePreKeySignalMessage(data: Uint8Array): PreKeySignalMessage {
  if (data.length === 0) throw new InvalidMessageError('message too short');
  const version = checkVersion(data[0]!);
  const f = parse(data.subarray(1));
  const kyberPreKeyId = f.uints.get(7);
  const kyberCiphertext = f.bytes.get(8);
  if ((kyberPreKeyId === undefined) !== (kyberCiphertext === undefined)) throw new InvalidMessageError('both or neither of the Kyber prekey id and ciphertext');
  if (kyberPreKeyId === undefined && version > CIPHERTEXT_MESSAGE_PRE_KYBER_VERSION) throw new InvalidMessageError('a Kyber prekey is required for this version');
  const message = decodeSignalMessage(required(f.bytes.get(4), 'inner message'));
  return {
    version,
    registrationId: f.uints.get(5) ?? 0,
    preKeyId: f.uints.get(1),
    signedPreKeyId: required(f.uints.get(6), 'signed prekey id'),
    kyberPreKeyId,
    kyberCiphertext,
    baseKey: ratchetKeyField(required(f.bytes.get(2), 'base key')),
    identityKey: ratchetKeyField(required(f.bytes.get(3), 'identity key')),
    message,
    serialized: Uint8Array.from(data),
  };
}
