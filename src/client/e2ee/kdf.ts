/**
 * @module client/e2ee/kdf
 * The Double Ratchet's key derivations with libsignal's labels: the root KDF
 * ("WhisperRatchet"), the chain KDF (HMAC-SHA256 with seeds 0x01 for a message key and
 * 0x02 for the next chain key), and message keys ("WhisperMessageKeys": 32-byte AES key,
 * 32-byte MAC key, 16-byte IV).
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8, type Bytes } from './bytes.js';
import { agree } from './curve.js';

export const MESSAGE_KEY_SEED = Uint8Array.of(0x01);
export const CHAIN_KEY_SEED = Uint8Array.of(0x02);
const RATCHET_INFO = utf8('WhisperRatchet');
const MESSAGE_KEYS_INFO = utf8('WhisperMessageKeys');

export function hmacSha256(key: Uint8Array, data: Uint8Array): Bytes {
  return hmac(sha256, key, data) as Bytes;
}

/** HKDF-SHA256; a missing salt is HashLen zero bytes (RFC 5869), as in libsignal. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array | undefined, info: Uint8Array, length: number): Bytes {
  return hkdf(sha256, ikm, salt, info, length) as Bytes;
}

/** The next chain key. */
export function nextChainKey(chainKey: Uint8Array): Bytes {
  return hmacSha256(chainKey, CHAIN_KEY_SEED);
}

/** The seed of the message key at a chain key's index (libsignal keeps these for skipped messages). */
export function messageKeySeed(chainKey: Uint8Array): Bytes {
  return hmacSha256(chainKey, MESSAGE_KEY_SEED);
}

export interface MessageKeys {
  cipherKey: Bytes;
  macKey: Bytes;
  iv: Bytes;
}

export function deriveMessageKeys(seed: Uint8Array): MessageKeys {
  const okm = hkdfSha256(seed, undefined, MESSAGE_KEYS_INFO, 80);
  return { cipherKey: okm.slice(0, 32), macKey: okm.slice(32, 64), iv: okm.slice(64, 80) };
}

/** One DH ratchet step: a new root key and a fresh chain key from DH(our ratchet, their ratchet). */
export function createChain(rootKey: Uint8Array, theirRatchetKey: Uint8Array, ourRatchetPrivate: Uint8Array): { rootKey: Bytes; chainKey: Bytes } {
  const okm = hkdfSha256(agree(ourRatchetPrivate, theirRatchetKey), rootKey, RATCHET_INFO, 64);
  return { rootKey: okm.slice(0, 32), chainKey: okm.slice(32, 64) };
}
