/**
 * @module client/e2ee/device
 * A new device's key material in one call, stored and ready to upload: the identity key
 * pair, a registration id, a signed prekey, a last-resort Kyber prekey, and batches of
 * one-time prekeys of both kinds.
 */
import type { KeyUploadBody } from '../../protocol/keys.js';
import { E2EE } from '../../protocol/limits.js';
import type { KeyPair } from './curve.js';
import {
  generateIdentityKeyPair,
  generateKyberPreKey,
  generatePreKeys,
  generateRegistrationId,
  generateSignedPreKey,
  keyUploadBody,
  type KyberPreKeyRecord,
  type PreKeyRecord,
  type SignedPreKeyRecord,
} from './keys.js';
import { InMemoryProtocolStore, type ProtocolStore } from './store.js';

export interface DeviceKeys {
  identity: KeyPair;
  registrationId: number;
  signedPreKey: SignedPreKeyRecord;
  lastResortKyberPreKey: KyberPreKeyRecord;
  preKeys: PreKeyRecord[];
  kyberPreKeys: KyberPreKeyRecord[];
}

/**
 * Ids: one-time prekeys of both kinds from 1; the signed prekey 1; the last-resort Kyber
 * key takes the id after the one-time ones (Kyber ids share one space on the device).
 */
export function generateDeviceKeys(options: { preKeys?: number; kyberPreKeys?: number } = {}): DeviceKeys {
  const identity = generateIdentityKeyPair();
  const preKeyCount = options.preKeys ?? E2EE.maxPreKeysPerUpload;
  const kyberCount = options.kyberPreKeys ?? E2EE.maxPreKeysPerUpload;
  const kyberPreKeys = Array.from({ length: kyberCount }, (_, i) => generateKyberPreKey(identity, i + 1, false));
  return {
    identity,
    registrationId: generateRegistrationId(),
    signedPreKey: generateSignedPreKey(identity, 1),
    lastResortKyberPreKey: generateKyberPreKey(identity, kyberCount + 1, true),
    preKeys: generatePreKeys(1, preKeyCount),
    kyberPreKeys,
  };
}

/** Puts a device's private keys in its store. */
export async function storeDeviceKeys(store: ProtocolStore, keys: DeviceKeys): Promise<void> {
  await store.storeSignedPreKey(keys.signedPreKey);
  await store.storeKyberPreKey(keys.lastResortKyberPreKey);
  for (const k of keys.kyberPreKeys) await store.storeKyberPreKey(k);
  for (const k of keys.preKeys) await store.storePreKey(k);
}

/** An in-memory store holding a device's keys. */
export async function inMemoryDevice(keys: DeviceKeys): Promise<InMemoryProtocolStore> {
  const store = new InMemoryProtocolStore(keys.identity, keys.registrationId);
  await storeDeviceKeys(store, keys);
  return store;
}

/** The device's public keys for `PUT /v1/keys`. */
export function deviceUploadBody(keys: DeviceKeys): KeyUploadBody {
  return keyUploadBody({
    registrationId: keys.registrationId,
    identity: keys.identity,
    signedPreKey: keys.signedPreKey,
    lastResortKyberPreKey: keys.lastResortKyberPreKey,
    preKeys: keys.preKeys,
    kyberPreKeys: keys.kyberPreKeys,
  });
}
