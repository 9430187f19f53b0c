/**
 * @module client/e2ee
 * End-to-end encryption for the SDK (docs/E2E.md): PQXDH sessions (X25519 + Kyber-1024),
 * the Double Ratchet and Sender Keys in libsignal's message layout, safety numbers, and a
 * pluggable store. Built on @noble's audited primitives only; runs in browsers, Node 22
 * and workerd.
 *
 * | file | owns |
 * | --- | --- |
 * | end-to-end.ts | `EndToEnd`: one signed-in device's encryption as ChatClient uses it (keys published, prekeys topped up, a codec per conversation, safety numbers) |
 * | codec.ts | one conversation's sends encrypted and events decrypted, in order; session repair |
 * | messenger.ts | who a message is encrypted for, sessions started, envelopes built and opened; what the device remembers |
 * | payload.ts | what an envelope carries inside, padded; the pairwise body's seal |
 * | directory.ts | the server's key directory over HTTP (uploads, device lists, claims) |
 * | protocol.ts | `E2ee`: the API an app (or ChatClient) calls; loads, works on copies, stores on success |
 * | store.ts | the `ProtocolStore` interface and `InMemoryProtocolStore` |
 * | device.ts | a new device's keys, stored and as the `PUT /v1/keys` body |
 * | keys.ts | identity, registration id, prekeys of each kind, bundles and their signatures |
 * | curve.ts | Curve25519 keys (0x05 ‖ u), X25519, XEdDSA |
 * | kem.ts | Kyber-1024 (libsignal's 0x08) over @noble's ML-KEM-1024 |
 * | pqxdh.ts | the PQXDH secret and the initial root and chain keys |
 * | session.ts | the Double Ratchet state, skipped keys and their bounds |
 * | messages.ts | SignalMessage and PreKeySignalMessage layout and MAC |
 * | sender-keys.ts | Sender Key chains, distribution and group messages |
 * | fingerprint.ts | safety numbers (numeric and scannable) |
 * | kdf.ts, cipher.ts | HKDF/HMAC derivations with libsignal's labels; AES-256-CBC |
 * | protobuf.ts, bytes.ts, serialize.ts | wire encoding, byte helpers, JSON-safe records |
 * | errors.ts | `E2eeError` and its subclasses |
 */

// The high-level API and where it keeps its state.
export { E2ee, type E2eeOptions } from './protocol.js';
export { InMemoryProtocolStore, addressKey, type Address, type ProtocolStore, type TrustedIdentity } from './store.js';
export { generateDeviceKeys, storeDeviceKeys, inMemoryDevice, deviceUploadBody, type DeviceKeys } from './device.js';

// Errors: one class with a literal code, and a subclass per failure.
export {
  E2eeError,
  NoSessionError,
  UntrustedIdentityError,
  InvalidKeyError,
  InvalidMessageError,
  DecryptionFailedError,
  DuplicateMessageError,
  MissingPreKeyError,
  type E2eeErrorCode,
} from './errors.js';

// Keys and bundles.
export {
  generateIdentityKeyPair,
  generateRegistrationId,
  generatePreKeys,
  generateSignedPreKey,
  generateKyberPreKey,
  bundleFromWire,
  verifyBundle,
  keyUploadBody,
  MAX_REGISTRATION_ID,
  MAX_PREKEY_ID,
  type PreKeyBundle,
  type PreKeyRecord,
  type SignedPreKeyRecord,
  type KyberPreKeyRecord,
} from './keys.js';
export { generateKeyPair, keyPairFromPrivate, xeddsaSign, xeddsaVerify, DJB_TYPE, type KeyPair } from './curve.js';
export { KEM_TYPE_KYBER1024, type KemKeyPair } from './kem.js';

// Safety numbers.
export { safetyNumber, compareScannable, FINGERPRINT_ITERATIONS, SCANNABLE_FINGERPRINT_VERSION, type SafetyNumber, type SafetyNumberInput } from './fingerprint.js';

// Bounds and formats, for stores and tests.
export { MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS, MAX_RECEIVER_CHAINS, ARCHIVED_STATES_MAX_LENGTH, type CiphertextKind } from './session.js';
export { MAX_SENDER_KEY_STATES } from './sender-keys.js';
export { toJson, fromJson, type Json } from './serialize.js';
export { toBase64url, fromBase64url, utf8, type Bytes } from './bytes.js';
