/**
 * @module client/e2ee/kem
 * The post-quantum KEM of PQXDH, as libsignal 0.103 speaks it: CRYSTALS-Kyber-1024
 * (round 3), key type byte 0x08 (libsignal rejects 0x0A, its ML-KEM-1024 tag, when
 * deserialising: checked in test/client/e2ee/interop.test.ts).
 *
 * Kyber-1024 round 3 and FIPS 203 ML-KEM-1024 share keys, ciphertexts and the inner
 * encryption; they differ in how the shared secret is finished. Kyber's CCAKEM.Enc draws
 * m, computes (K̄, r) = G(m ‖ H(pk)) and c = Enc(pk, m, r) exactly as ML-KEM.Encaps does
 * (whose K is that K̄), then outputs KDF(K̄ ‖ H(c)) with KDF = SHAKE-256 and H = SHA3-256.
 * So we run @noble/post-quantum's ml_kem1024 and finish with @noble/hashes' SHAKE-256:
 * a composition of audited primitives, no new primitive. (Round 3 also hashed m before use;
 * m is fresh randomness either way, so a random m is as good as a hashed one.) On a
 * decapsulation failure both return a pseudorandom value only the key holder can compute
 * (ML-KEM's J(z ‖ c), finished the same way), which fails the session's MAC like any
 * wrong secret.
 */
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import { sha3_256, shake256 } from '@noble/hashes/sha3.js';
import { concat, randomBytes, type Bytes } from './bytes.js';
import { InvalidKeyError } from './errors.js';

/** libsignal's KEM key type byte for Kyber-1024. */
export const KEM_TYPE_KYBER1024 = 0x08;
export const KEM_PUBLIC_KEY_LENGTH = 1 + 1568;
export const KEM_SECRET_KEY_LENGTH = 1 + 3168;
export const KEM_CIPHERTEXT_LENGTH = 1 + 1568;

export interface KemKeyPair {
  /** 0x08 ‖ 1,568-byte public key. */
  publicKey: Bytes;
  /** 0x08 ‖ 3,168-byte secret key. */
  secretKey: Bytes;
}

export function generateKemKeyPair(): KemKeyPair {
  // Any ML-KEM key pair is a Kyber key pair: only the seed expansion differs, and it is not observable.
  const { publicKey, secretKey } = ml_kem1024.keygen(randomBytes(64));
  return { publicKey: concat([KEM_TYPE_KYBER1024], publicKey), secretKey: concat([KEM_TYPE_KYBER1024], secretKey) };
}

function unwrap(serialized: Uint8Array, length: number, what: string): Bytes {
  if (serialized.length !== length || serialized[0] !== KEM_TYPE_KYBER1024) throw new InvalidKeyError(`not a Kyber-1024 ${what} (${length} bytes, type 0x08)`);
  return serialized.slice(1);
}

function finish(innerSecret: Uint8Array, ciphertext: Uint8Array): Bytes {
  return shake256(concat(innerSecret, sha3_256(ciphertext)), { dkLen: 32 }) as Bytes;
}

/** Encapsulates to a serialised public key: the shared secret, and the serialised ciphertext to send. */
export function kemEncapsulate(publicKey: Uint8Array): { sharedSecret: Bytes; ciphertext: Bytes } {
  const pk = unwrap(publicKey, KEM_PUBLIC_KEY_LENGTH, 'public key');
  let out;
  try {
    out = ml_kem1024.encapsulate(pk, randomBytes(32));
  } catch {
    throw new InvalidKeyError('Kyber-1024 public key rejected');
  }
  return { sharedSecret: finish(out.sharedSecret, out.cipherText), ciphertext: concat([KEM_TYPE_KYBER1024], out.cipherText) };
}

/** Decapsulates a serialised ciphertext with a serialised secret key. */
export function kemDecapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Bytes {
  const ct = unwrap(ciphertext, KEM_CIPHERTEXT_LENGTH, 'ciphertext');
  const sk = unwrap(secretKey, KEM_SECRET_KEY_LENGTH, 'secret key');
  let inner;
  try {
    inner = ml_kem1024.decapsulate(ct, sk);
  } catch {
    throw new InvalidKeyError('Kyber-1024 secret key rejected');
  }
  return finish(inner, ct);
}
