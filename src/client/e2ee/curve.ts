/**
 * @module client/e2ee/curve
 * Curve25519 keys as libsignal serialises them, X25519 agreement, and XEdDSA signatures.
 *
 * A public key is 33 bytes: the type byte 0x05, then the X25519 u-coordinate. A private
 * key is the 32-byte clamped scalar (libsignal clamps on creation, so its serialisation
 * and ours are the same bytes).
 *
 * XEdDSA (signal.org/docs/specifications/xeddsa) lets the X25519 identity key also sign:
 * it is a construction over Ed25519's group and SHA-512, both from @noble. We sign as the
 * spec says (the Edwards key's sign bit forced to 0 by negating the scalar). We verify as
 * libsignal does, which reads the Edwards sign bit from the signature's top bit (libsignal's
 * signer puts it there instead of negating); the spec's signatures always carry 0 there,
 * so one verifier accepts both.
 */
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { concat, randomBytes, type Bytes } from './bytes.js';
import { InvalidKeyError } from './errors.js';

/** libsignal's type byte for a Curve25519 public key (DJB_TYPE). */
export const DJB_TYPE = 0x05;
export const PUBLIC_KEY_LENGTH = 33;
export const PRIVATE_KEY_LENGTH = 32;
export const SIGNATURE_LENGTH = 64;

export interface KeyPair {
  /** Serialised public key: 0x05 || u. */
  publicKey: Bytes;
  /** Clamped private scalar. */
  privateKey: Bytes;
}

const Point = ed25519.Point;
const Fp = Point.Fp;
const Fn = Point.Fn;

/** Clamps a scalar as X25519 does (RFC 7748 §5); idempotent. */
export function clamp(bytes: Uint8Array): Bytes {
  const k = Uint8Array.from(bytes);
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
  return k;
}

export function generateKeyPair(): KeyPair {
  return keyPairFromPrivate(randomBytes(PRIVATE_KEY_LENGTH));
}

/** The key pair of a private key (clamped first, as libsignal does). */
export function keyPairFromPrivate(privateKey: Uint8Array): KeyPair {
  if (privateKey.length !== PRIVATE_KEY_LENGTH) throw new InvalidKeyError('a private key is 32 bytes');
  const k = clamp(privateKey);
  return { privateKey: k, publicKey: serializePublic(x25519.getPublicKey(k)) };
}

export function serializePublic(u: Uint8Array): Bytes {
  return concat([DJB_TYPE], u);
}

/** The 32-byte u-coordinate of a serialised public key; throws InvalidKeyError on anything else. */
export function publicKeyBytes(serialized: Uint8Array): Bytes {
  if (serialized.length !== PUBLIC_KEY_LENGTH || serialized[0] !== DJB_TYPE) throw new InvalidKeyError('not a Curve25519 public key (33 bytes, type 0x05)');
  return serialized.slice(1);
}

/** X25519 agreement with a serialised public key. Throws InvalidKeyError on a low-order key. */
export function agree(privateKey: Uint8Array, theirPublic: Uint8Array): Bytes {
  try {
    return x25519.getSharedSecret(privateKey, publicKeyBytes(theirPublic)) as Bytes;
  } catch (err) {
    if (err instanceof InvalidKeyError) throw err;
    throw new InvalidKeyError('X25519 agreement failed (low-order public key)');
  }
}

const leToBigint = (b: Uint8Array): bigint => {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
};
const bigintToLe = (n: bigint, length = 32): Bytes => {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
};

/** XEdDSA's hash_1 prefix: 0xFE then 31 × 0xFF (2^256 − 2 − 1 in little-endian). */
const HASH1_PREFIX = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 0xfe : 0xff));

/** XEdDSA sign (spec §2.3 and §4.1), with 64 fresh random bytes Z. */
export function xeddsaSign(privateKey: Uint8Array, message: Uint8Array, random: Uint8Array = randomBytes(64)): Bytes {
  let a = Fn.create(leToBigint(clamp(privateKey)));
  let A = Point.BASE.multiply(a);
  // calculate_key_pair: the Edwards public key must have sign bit 0; negate the scalar if not.
  if ((A.toBytes()[31]! & 0x80) !== 0) {
    a = Fn.neg(a);
    A = A.negate();
  }
  const aBytes = bigintToLe(a);
  const r = Fn.create(leToBigint(sha512(concat(HASH1_PREFIX, aBytes, message, random))));
  const R = Point.BASE.multiply(r === 0n ? 1n : r).toBytes();
  const h = Fn.create(leToBigint(sha512(concat(R, A.toBytes(), message))));
  const s = Fn.add(r === 0n ? 1n : r, Fn.mul(h, a));
  return concat(R, bigintToLe(s));
}

/** XEdDSA verify, accepting libsignal's sign-bit-in-signature form as well as the spec's. */
export function xeddsaVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_LENGTH) return false;
  let u: bigint;
  try {
    u = leToBigint(publicKeyBytes(publicKey)) & ((1n << 255n) - 1n);
  } catch {
    return false;
  }
  u = Fp.create(u);
  if (u === Fp.neg(1n)) return false;
  const signBit = signature[63]! & 0x80;
  const sBytes = signature.slice(32);
  sBytes[31]! &= 0x7f;
  // The spec's bound on s: below 2^|q| (253 bits).
  if ((sBytes[31]! & 0xe0) !== 0) return false;
  try {
    // The birational map from Montgomery u to Edwards y: y = (u − 1) / (u + 1).
    const y = Fp.div(Fp.sub(u, 1n), Fp.add(u, 1n));
    const aBytes = bigintToLe(y);
    aBytes[31]! |= signBit;
    const A = Point.fromBytes(aBytes);
    const R = signature.subarray(0, 32);
    const h = Fn.create(leToBigint(sha512(concat(R, A.toBytes(), message))));
    const check = Point.BASE.multiplyUnsafe(Fn.create(leToBigint(sBytes))).subtract(A.multiplyUnsafe(h));
    const got = check.toBytes();
    let diff = 0;
    for (let i = 0; i < 32; i++) diff |= got[i]! ^ R[i]!;
    return diff === 0;
  } catch {
    return false;
  }
}
