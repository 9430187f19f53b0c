/**
 * @module client/e2ee/keys
 * A device's key material: its identity key pair and registration id, a signed prekey, a
 * signed Kyber prekey (one-time or last-resort) and one-time prekeys, each signed by the
 * identity key with XEdDSA over the serialised public key, as libsignal signs them; and
 * the conversions between these and the key directory's wire bodies (src/protocol/keys.ts).
 */
import type { KeyUploadBody, PreKeyBundle as WirePreKeyBundle } from '../../protocol/keys.js';
import { fromBase64url, randomBytes, toBase64url, type Bytes } from './bytes.js';
import { generateKeyPair, publicKeyBytes, xeddsaSign, xeddsaVerify, type KeyPair } from './curve.js';
import { InvalidKeyError } from './errors.js';
import { generateKemKeyPair, KEM_PUBLIC_KEY_LENGTH, KEM_TYPE_KYBER1024, type KemKeyPair } from './kem.js';

/** libsignal's registration ids are 14 bits; the directory takes 1 to 16,380. */
export const MAX_REGISTRATION_ID = 16_380;
/** Prekey ids are 24 bits, as in libsignal and the directory. */
export const MAX_PREKEY_ID = 0xff_ffff;

export interface PreKeyRecord {
  keyId: number;
  keyPair: KeyPair;
}

export interface SignedPreKeyRecord {
  keyId: number;
  keyPair: KeyPair;
  signature: Bytes;
  timestamp: number;
}

export interface KyberPreKeyRecord {
  keyId: number;
  keyPair: KemKeyPair;
  signature: Bytes;
  timestamp: number;
  /** A last-resort key stays after use (it stands in when no one-time key is left). */
  lastResort: boolean;
}

export const generateIdentityKeyPair = generateKeyPair;

export function generateRegistrationId(): number {
  const [a, b] = randomBytes(2);
  return 1 + (((a! << 8) | b!) % MAX_REGISTRATION_ID);
}

export function generatePreKeys(startId: number, count: number): PreKeyRecord[] {
  return Array.from({ length: count }, (_, i) => ({ keyId: ((startId + i - 1) % MAX_PREKEY_ID) + 1, keyPair: generateKeyPair() }));
}

export function generateSignedPreKey(identity: KeyPair, keyId: number, timestamp = Date.now()): SignedPreKeyRecord {
  const keyPair = generateKeyPair();
  return { keyId, keyPair, signature: xeddsaSign(identity.privateKey, keyPair.publicKey), timestamp };
}

export function generateKyberPreKey(identity: KeyPair, keyId: number, lastResort: boolean, timestamp = Date.now()): KyberPreKeyRecord {
  const keyPair = generateKemKeyPair();
  return { keyId, keyPair, signature: xeddsaSign(identity.privateKey, keyPair.publicKey), timestamp, lastResort };
}

/** A prekey bundle in bytes: what the initiator of a session uses. */
export interface PreKeyBundle {
  registrationId: number;
  identityKey: Bytes;
  signedPreKeyId: number;
  signedPreKey: Bytes;
  signedPreKeySignature: Bytes;
  kyberPreKeyId: number;
  kyberPreKey: Bytes;
  kyberPreKeySignature: Bytes;
  preKeyId?: number | undefined;
  preKey?: Bytes | undefined;
}

function decodeKey(text: string, what: string): Bytes {
  try {
    return fromBase64url(text);
  } catch {
    throw new InvalidKeyError(`${what} is not base64url`);
  }
}

/** A bundle from the key directory (base64url keys), in bytes. */
export function bundleFromWire(wire: WirePreKeyBundle): PreKeyBundle {
  return {
    registrationId: wire.registrationId,
    identityKey: decodeKey(wire.identityKey, 'identity key'),
    signedPreKeyId: wire.signedPreKey.keyId,
    signedPreKey: decodeKey(wire.signedPreKey.publicKey, 'signed prekey'),
    signedPreKeySignature: decodeKey(wire.signedPreKey.signature, 'signed prekey signature'),
    kyberPreKeyId: wire.pqPreKey.keyId,
    kyberPreKey: decodeKey(wire.pqPreKey.publicKey, 'Kyber prekey'),
    kyberPreKeySignature: decodeKey(wire.pqPreKey.signature, 'Kyber prekey signature'),
    preKeyId: wire.oneTimePreKey?.keyId,
    preKey: wire.oneTimePreKey ? decodeKey(wire.oneTimePreKey.publicKey, 'one-time prekey') : undefined,
  };
}

/** Checks a bundle's keys and both signatures (by its identity key); throws InvalidKeyError. */
export function verifyBundle(bundle: PreKeyBundle): void {
  publicKeyBytes(bundle.identityKey);
  publicKeyBytes(bundle.signedPreKey);
  if (bundle.preKey) publicKeyBytes(bundle.preKey);
  if (bundle.kyberPreKey.length !== KEM_PUBLIC_KEY_LENGTH || bundle.kyberPreKey[0] !== KEM_TYPE_KYBER1024) throw new InvalidKeyError('not a Kyber-1024 public key');
  if (!xeddsaVerify(bundle.identityKey, bundle.signedPreKey, bundle.signedPreKeySignature)) throw new InvalidKeyError('signed prekey signature does not verify');
  if (!xeddsaVerify(bundle.identityKey, bundle.kyberPreKey, bundle.kyberPreKeySignature)) throw new InvalidKeyError('Kyber prekey signature does not verify');
}

/** The body of `PUT /v1/keys` for these keys (public halves only). */
export function keyUploadBody(input: {
  registrationId: number;
  identity: KeyPair;
  signedPreKey: SignedPreKeyRecord;
  lastResortKyberPreKey: KyberPreKeyRecord;
  preKeys?: PreKeyRecord[];
  kyberPreKeys?: KyberPreKeyRecord[];
}): KeyUploadBody {
  const signed = (r: SignedPreKeyRecord | KyberPreKeyRecord) => ({ keyId: r.keyId, publicKey: toBase64url(r.keyPair.publicKey), signature: toBase64url(r.signature) });
  return {
    registrationId: input.registrationId,
    identityKey: toBase64url(input.identity.publicKey),
    signedPreKey: signed(input.signedPreKey),
    pqLastResortPreKey: signed(input.lastResortKyberPreKey),
    oneTimePreKeys: (input.preKeys ?? []).map((p) => ({ keyId: p.keyId, publicKey: toBase64url(p.keyPair.publicKey) })),
    pqOneTimePreKeys: (input.kyberPreKeys ?? []).map(signed),
  };
}
