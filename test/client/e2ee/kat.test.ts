/**
 * Known-answer tests: libsignal's published vectors, reproduced exactly.
 * - rust/protocol/tests/ratchet.rs: `test_ratcheting_session_as_bob` (expected_sender_chain)
 *   and `test_ratcheting_session_as_alice` (expected_receiver_chain), from fixed identity,
 *   base, signed prekey and ephemeral key pairs. These are X3DH sessions (no KEM), whose
 *   derivation is PQXDH's without the KEM secret and with the info "WhisperText".
 * - rust/protocol/src/ratchet/keys.rs: `test_chain_key_derivation` (message key, MAC key
 *   and next chain key from a fixed chain key).
 * - rust/protocol/src/fingerprint.rs: `fingerprint_test_v1` / `fingerprint_test_v2` (the
 *   60-digit safety number and both scannable encodings for fixed keys and phone numbers).
 * - CRYSTALS-Kyber-1024 round 3: count 0 of the NIST submission's PQCkemKAT_3168.rsp
 *   (decapsulation gives its shared secret: our composition over ML-KEM is Kyber).
 * RFC 7748 (X25519) and FIPS 203 vectors are the noble libraries' own tests.
 */
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../../src/client/e2ee/bytes.js';
import { keyPairFromPrivate } from '../../../src/client/e2ee/curve.js';
import { deriveMessageKeys, messageKeySeed, nextChainKey } from '../../../src/client/e2ee/kdf.js';
import { initializeAliceSession, initializeBobSession } from '../../../src/client/e2ee/session.js';
import { compareScannable, safetyNumber } from '../../../src/client/e2ee/fingerprint.js';
import { concat, utf8 } from '../../../src/client/e2ee/bytes.js';
import { kemDecapsulate, KEM_TYPE_KYBER1024 } from '../../../src/client/e2ee/kem.js';
import { KYBER1024_R3_CT, KYBER1024_R3_SK, KYBER1024_R3_SS } from './kyber-kat.js';

const BOB_EPHEMERAL_PUBLIC = '052cb49776b8770205745a3a6e24f579cdb4ba7a89041005928ebbadc9c05ad458';
const BOB_EPHEMERAL_PRIVATE = 'a1cab48f7c893fafa9880a28c3b4999d28d6329562d27a4ea4e22e9ff1bdd65a';
const BOB_IDENTITY_PUBLIC = '05f1f43874f6966956c2dd473f8fa15adeb71d1cb991b2341692324cefb1c5e626';
const BOB_IDENTITY_PRIVATE = '4875cc69ddf8ea0719ec947d61081135868d5fd801f02c0225e516df2156605e';
const ALICE_BASE_PUBLIC = '05472d1fb1a9862c3af6beaca8920277e2b26f4a79213ec7c906aeb35e03cf8950';
const ALICE_BASE_PRIVATE = '11ae7c64d1e61cd596b76a0db5012673391cae66edbfcf073b4da80516a47449';
const ALICE_IDENTITY_PUBLIC = '05b4a8455660ada65b401007f615e654041746432e3339c6875149bceefcb42b4a';
const ALICE_IDENTITY_PRIVATE = '9040f0d4e09cf38f6dc7c13779c908c015a1da4fa78737a080eb0a6f4f5f8f58';
const BOB_SIGNED_PREKEY_PUBLIC = '05ac248a8f263be6863576eb0362e28c828f0107a3379d34bab1586bf8c770cd67';
const BOB_SIGNED_PREKEY_PRIVATE = '583900131fb727998b7803fe6ac22cc591f342e4e42a8c8d5d78194209b8d253';

/** A key pair exactly as given (libsignal's KeyPair::from_public_and_private does not re-derive the public half). */
const pair = (publicHex: string, privateHex: string) => ({ publicKey: fromHex(publicHex), privateKey: fromHex(privateHex) });

describe('libsignal ratchet vectors', () => {
  it('Bob: the sender chain key is expected_sender_chain', () => {
    const state = initializeBobSession({
      ourIdentity: pair(BOB_IDENTITY_PUBLIC, BOB_IDENTITY_PRIVATE),
      ourSignedPreKey: pair(BOB_SIGNED_PREKEY_PUBLIC, BOB_SIGNED_PREKEY_PRIVATE),
      ourRatchetKey: pair(BOB_EPHEMERAL_PUBLIC, BOB_EPHEMERAL_PRIVATE),
      theirIdentity: fromHex(ALICE_IDENTITY_PUBLIC),
      theirBaseKey: fromHex(ALICE_BASE_PUBLIC),
    });
    expect(toHex(state.senderChain.chainKey)).toBe('9797caca53c989bbe229a40ca7727010eb2604fc14945d77958a0aeda088b44d');
    expect(toHex(state.localIdentity)).toBe(BOB_IDENTITY_PUBLIC);
    expect(toHex(state.remoteIdentity)).toBe(ALICE_IDENTITY_PUBLIC);
    expect(state.version).toBe(3);
  });

  it('Alice: the receiver chain key for Bob’s ephemeral is expected_receiver_chain', () => {
    const { state } = initializeAliceSession({
      ourIdentity: pair(ALICE_IDENTITY_PUBLIC, ALICE_IDENTITY_PRIVATE),
      ourBaseKey: pair(ALICE_BASE_PUBLIC, ALICE_BASE_PRIVATE),
      theirIdentity: fromHex(BOB_IDENTITY_PUBLIC),
      theirSignedPreKey: fromHex(BOB_SIGNED_PREKEY_PUBLIC),
      theirRatchetKey: fromHex(BOB_EPHEMERAL_PUBLIC),
    });
    const chain = state.receiverChains.find((c) => toHex(c.ratchetKey) === BOB_EPHEMERAL_PUBLIC);
    expect(toHex(chain!.chainKey)).toBe('ab9be50e5cb22a925446ab90ee5670545f4fd32902459ec274b6ad0ae5d6031a');
    expect(state.version).toBe(3);
  });

  it('our X25519 derives the vectors’ public keys from their private keys (Bob’s pairs)', () => {
    expect(toHex(keyPairFromPrivate(fromHex(BOB_IDENTITY_PRIVATE)).publicKey)).toBe(BOB_IDENTITY_PUBLIC);
    expect(toHex(keyPairFromPrivate(fromHex(BOB_SIGNED_PREKEY_PRIVATE)).publicKey)).toBe(BOB_SIGNED_PREKEY_PUBLIC);
    // Alice's base pair in the vectors is not a matching pair, which is why the two
    // expected chains differ (libsignal's own comment: "This differs from the Java test").
    expect(toHex(keyPairFromPrivate(fromHex(ALICE_BASE_PRIVATE)).publicKey)).not.toBe(ALICE_BASE_PUBLIC);
  });

  it('chain key derivation: message key, MAC key and next chain key', () => {
    const chainKey = fromHex('8ab72d6f4cc5ac0d387eaf463378ddb28edd07385b1cb01250c715982e7ad48f');
    const keys = deriveMessageKeys(messageKeySeed(chainKey));
    expect(toHex(keys.cipherKey)).toBe('bf51e9d75e0e31031051f82a2491ffc084fa298b7793bd9db620056febf45217');
    expect(toHex(keys.macKey)).toBe('c6c77d6a73a354337a56435e34607dfe48e3ace14e77314dc6abc172e7a7030b');
    expect(toHex(nextChainKey(chainKey))).toBe('28e8f8fee54b801eef7c5cfb2f17f32c7b334485bbb70fac6ec10342a246d15d');
  });
});

describe('libsignal fingerprint vectors', () => {
  const ALICE_IDENTITY = fromHex('0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868');
  const BOB_IDENTITY = fromHex('05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b');
  const [ALICE_ID, BOB_ID] = [utf8('+14152222222'), utf8('+14153333333')];
  const alice = (version: number) => safetyNumber({ version, localIdentifier: ALICE_ID, localKey: ALICE_IDENTITY, remoteIdentifier: BOB_ID, remoteKey: BOB_IDENTITY });
  const bob = (version: number) => safetyNumber({ version, localIdentifier: BOB_ID, localKey: BOB_IDENTITY, remoteIdentifier: ALICE_ID, remoteKey: ALICE_IDENTITY });

  it('the displayable number is DISPLAYABLE_FINGERPRINT_V1 for both sides and both versions', () => {
    for (const v of [1, 2]) {
      expect(alice(v).displayable).toBe('300354477692869396892869876765458257569162576843440918079131');
      expect(bob(v).displayable).toBe('300354477692869396892869876765458257569162576843440918079131');
    }
  });

  it('the scannable encodings are libsignal’s, and each side matches the other’s', () => {
    const A = '12220a201e301a0353dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df1a220a20d62cbf73a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d';
    const B = '12220a20d62cbf73a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d1a220a201e301a0353dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df';
    expect(toHex(alice(1).scannable)).toBe('0801' + A);
    expect(toHex(bob(1).scannable)).toBe('0801' + B);
    expect(toHex(alice(2).scannable)).toBe('0802' + A);
    expect(toHex(bob(2).scannable)).toBe('0802' + B);
    expect(compareScannable(alice(2).scannable, bob(2).scannable)).toBe(true);
    expect(compareScannable(alice(2).scannable, alice(2).scannable)).toBe(false);
    expect(compareScannable(alice(1).scannable, bob(2).scannable)).toBe(false);
  });
});

describe('Kyber-1024 round 3 known answer', () => {
  it('decapsulating the NIST count-0 ciphertext gives its shared secret', () => {
    const ss = kemDecapsulate(concat([KEM_TYPE_KYBER1024], fromHex(KYBER1024_R3_CT)), concat([KEM_TYPE_KYBER1024], fromHex(KYBER1024_R3_SK)));
    expect(toHex(ss)).toBe(KYBER1024_R3_SS.toLowerCase());
  });
});
