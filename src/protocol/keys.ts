/**
 * @module protocol/keys
 * The key directory for end-to-end encryption (docs/E2E.md). Each device uploads its
 * public keys to its user's object: an identity key, a signed prekey, a signed
 * post-quantum (Kyber-1024) last-resort prekey, and batches of one-time prekeys of both
 * kinds. A sender claims one bundle per device of a recipient: each one-time prekey is
 * handed out once, and the signed ones stand in when none is left. The server checks
 * shapes and bounds only; signatures are checked by the devices that use the keys.
 *
 * Keys are the libsignal serialisations, base64url without padding: a Curve25519 public
 * key is 33 bytes (type byte 0x05), a Kyber-1024 public key 1,569 bytes (type byte 0x08,
 * what libsignal deploys; see docs/E2E.md on Kyber and ML-KEM), a signature 64 bytes
 * (XEdDSA, by the identity key).
 */
import { z } from 'zod';
import { E2EE } from './limits.js';
import { DeviceId, UserId } from './ids.js';
import { Ciphertext } from './events.js';

export const PublicKey = Ciphertext(E2EE.maxKeyLength);
/** A prekey's id, chosen by its device (libsignal's 24-bit ids). */
export const PreKeyId = z.number().int().min(0).max(0xff_ffff);

export const PreKey = z.strictObject({ keyId: PreKeyId, publicKey: PublicKey });
export type PreKey = z.infer<typeof PreKey>;

/** A prekey signed by the device's identity key (the classic signed prekey, and every post-quantum one). */
export const SignedPreKey = z.strictObject({ keyId: PreKeyId, publicKey: PublicKey, signature: PublicKey });
export type SignedPreKey = z.infer<typeof SignedPreKey>;

/**
 * `PUT /v1/keys`: the calling device's keys. The first upload adds the device to its
 * user's device list; the identity key cannot change afterwards (a device with a new
 * identity is a new device: sign in again). A later upload rotates the signed prekeys
 * (a new `keyId`); one-time prekeys given here are added.
 */
export const KeyUploadBody = z.strictObject({
  /** libsignal's registration id: lets a recipient tell a re-installed device from the old one. */
  registrationId: z.number().int().min(1).max(16_380),
  identityKey: PublicKey,
  signedPreKey: SignedPreKey,
  pqLastResortPreKey: SignedPreKey,
  oneTimePreKeys: z.array(PreKey).max(E2EE.maxPreKeysPerUpload).default([]),
  pqOneTimePreKeys: z.array(SignedPreKey).max(E2EE.maxPreKeysPerUpload).default([]),
});
export type KeyUploadBody = z.infer<typeof KeyUploadBody>;

/** `POST /v1/keys/prekeys`: more one-time prekeys for the calling device. */
export const PreKeyBatchBody = z.strictObject({
  oneTimePreKeys: z.array(PreKey).max(E2EE.maxPreKeysPerUpload).default([]),
  pqOneTimePreKeys: z.array(SignedPreKey).max(E2EE.maxPreKeysPerUpload).default([]),
});
export type PreKeyBatchBody = z.infer<typeof PreKeyBatchBody>;

/** `GET /v1/keys/status` (and the answer to both uploads): what the calling device has stored. */
export const KeyStatus = z.object({
  oneTimePreKeys: z.number().int(),
  pqOneTimePreKeys: z.number().int(),
  signedPreKeyId: PreKeyId,
  pqLastResortPreKeyId: PreKeyId,
});
export type KeyStatus = z.infer<typeof KeyStatus>;

/** One device in a user's device list. */
export const KeyDevice = z.object({ deviceId: DeviceId, registrationId: z.number().int(), identityKey: PublicKey });
export type KeyDevice = z.infer<typeof KeyDevice>;

/**
 * `GET /v1/users/:userId/keys`: the user's devices that hold keys, and the list's version
 * (it grows with every device added or revoked; a `devices_changed` event names it).
 */
export const DeviceList = z.object({ userId: UserId, version: z.number().int().min(0), devices: z.array(KeyDevice) });
export type DeviceList = z.infer<typeof DeviceList>;

/** `POST /v1/users/:userId/keys/claim`: bundles for these devices of the user (all, when absent). */
export const ClaimKeysBody = z.strictObject({ deviceIds: z.array(DeviceId).min(1).max(E2EE.maxDevicesPerUser).optional() });

/** What a sender needs to start a session with one device (PQXDH). */
export const PreKeyBundle = z.object({
  deviceId: DeviceId,
  registrationId: z.number().int(),
  identityKey: PublicKey,
  signedPreKey: SignedPreKey,
  /** A one-time post-quantum prekey, or the last-resort one when none is left (`lastResort`). */
  pqPreKey: SignedPreKey.extend({ lastResort: z.boolean() }),
  /** A one-time classic prekey; absent when none is left. */
  oneTimePreKey: PreKey.optional(),
});
export type PreKeyBundle = z.infer<typeof PreKeyBundle>;

export const ClaimedKeys = z.object({ userId: UserId, version: z.number().int().min(0), bundles: z.array(PreKeyBundle) });
export type ClaimedKeys = z.infer<typeof ClaimedKeys>;
