/**
 * @module client/e2ee/pqxdh
 * The PQXDH key agreement (signal.org/docs/specifications/pqxdh) as libsignal computes it.
 *
 * The secret input is 32 × 0xFF (the "discontinuity bytes" that keep it from ever being a
 * valid X25519 output, as in X3DH) followed by DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B),
 * DH3 = DH(EK_A, SPK_B), DH4 = DH(EK_A, OPK_B) when a one-time prekey was used, and the KEM
 * shared secret. HKDF-SHA256 with a zero salt and the info
 * "WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024" gives the root key and the first chain
 * key (libsignal expands 96 bytes and gives the last 32 to its SPQR ratchet; HKDF's output
 * is a prefix stream, so our 64 are its first 64). Without a KEM (X3DH, kept only for
 * libsignal's published test vectors) the info is "WhisperText".
 */
import { concat, utf8, type Bytes } from './bytes.js';
import { agree, type KeyPair } from './curve.js';
import { hkdfSha256 } from './kdf.js';
import { kemDecapsulate, kemEncapsulate } from './kem.js';

export const DISCONTINUITY_BYTES = new Uint8Array(32).fill(0xff);
export const PQXDH_INFO = utf8('WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024');
export const X3DH_INFO = utf8('WhisperText');

export interface InitialKeys {
  rootKey: Bytes;
  chainKey: Bytes;
}

export function deriveInitialKeys(secretInput: Uint8Array, hasKem: boolean): InitialKeys {
  const okm = hkdfSha256(secretInput, undefined, hasKem ? PQXDH_INFO : X3DH_INFO, 64);
  return { rootKey: okm.slice(0, 32), chainKey: okm.slice(32, 64) };
}

export interface InitiatorInput {
  ourIdentity: KeyPair;
  ourBaseKey: KeyPair;
  theirIdentity: Uint8Array;
  theirSignedPreKey: Uint8Array;
  theirOneTimePreKey?: Uint8Array | undefined;
  /** Absent only for X3DH test vectors. */
  theirKemPreKey?: Uint8Array | undefined;
}

/** Alice's side: the initial keys, and the KEM ciphertext Bob needs. */
export function pqxdhInitiate(input: InitiatorInput): InitialKeys & { kemCiphertext: Bytes | undefined } {
  const parts = [
    DISCONTINUITY_BYTES,
    agree(input.ourIdentity.privateKey, input.theirSignedPreKey),
    agree(input.ourBaseKey.privateKey, input.theirIdentity),
    agree(input.ourBaseKey.privateKey, input.theirSignedPreKey),
  ];
  if (input.theirOneTimePreKey) parts.push(agree(input.ourBaseKey.privateKey, input.theirOneTimePreKey));
  let kemCiphertext: Bytes | undefined;
  if (input.theirKemPreKey) {
    const kem = kemEncapsulate(input.theirKemPreKey);
    parts.push(kem.sharedSecret);
    kemCiphertext = kem.ciphertext;
  }
  return { ...deriveInitialKeys(concat(...parts), kemCiphertext !== undefined), kemCiphertext };
}

export interface ResponderInput {
  ourIdentity: KeyPair;
  ourSignedPreKey: KeyPair;
  ourOneTimePreKey?: KeyPair | undefined;
  ourKemSecretKey?: Uint8Array | undefined;
  theirIdentity: Uint8Array;
  theirBaseKey: Uint8Array;
  kemCiphertext?: Uint8Array | undefined;
}

/** Bob's side: the same initial keys from his private keys and Alice's public ones. */
export function pqxdhRespond(input: ResponderInput): InitialKeys {
  const parts = [
    DISCONTINUITY_BYTES,
    agree(input.ourSignedPreKey.privateKey, input.theirIdentity),
    agree(input.ourIdentity.privateKey, input.theirBaseKey),
    agree(input.ourSignedPreKey.privateKey, input.theirBaseKey),
  ];
  if (input.ourOneTimePreKey) parts.push(agree(input.ourOneTimePreKey.privateKey, input.theirBaseKey));
  const hasKem = input.ourKemSecretKey !== undefined && input.kemCiphertext !== undefined;
  if (hasKem) parts.push(kemDecapsulate(input.kemCiphertext!, input.ourKemSecretKey!));
  return deriveInitialKeys(concat(...parts), hasKem);
}
