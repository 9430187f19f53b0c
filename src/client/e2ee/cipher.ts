/**
 * @module client/e2ee/cipher
 * AES-256-CBC with PKCS#7 padding, the body cipher of Signal's messages and of Sender
 * Key messages (@noble/ciphers). Authentication is the caller's: a MAC for pairwise
 * messages, a signature for group messages, both checked before this decrypts.
 */
import { cbc } from '@noble/ciphers/aes.js';
import type { Bytes } from './bytes.js';
import { InvalidMessageError } from './errors.js';

export function aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Bytes {
  return cbc(key, iv).encrypt(plaintext) as Bytes;
}

export function aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Bytes {
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw new InvalidMessageError('ciphertext is not whole AES blocks');
  try {
    return cbc(key, iv).decrypt(ciphertext) as Bytes;
  } catch (cause) {
    throw new InvalidMessageError('bad padding', { cause });
  }
}
