/**
 * @module client/e2ee/rotation
 * The device's signed prekeys (the classic one and the post-quantum last-resort one) are
 * replaced every SIGNED_PREKEY_ROTATION_MS, as Signal does, so a key that leaked stops
 * being handed out. A replaced pair stays on the device for RETIRED_PREKEY_KEEP_MS: a
 * sender may have claimed it just before and send its first message much later. Each
 * pair is a generation: the signed prekey's id is the generation, and the counter
 * `lastResort:<generation>` names its Kyber key (Kyber ids share one space with the
 * one-time keys).
 */
import type { KeyDirectory } from './directory.js';
import type { DeviceKeys } from './device.js';
import { generateKyberPreKey, generateSignedPreKey, keyUploadBody } from './keys.js';
import type { E2eeMemory } from './messenger.js';
import type { ProtocolStore } from './store.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** How often the signed prekeys are replaced. */
export const SIGNED_PREKEY_ROTATION_MS = 7 * DAY_MS;
/** How long a replaced pair is kept for late prekey messages (the server keeps its public half as long). */
export const RETIRED_PREKEY_KEEP_MS = 30 * DAY_MS;

const GENERATION = 'signedPreKeyGeneration';
const OLDEST_KEPT = 'oldestSignedPreKeyGeneration';
export const NEXT_KYBER_ID = 'nextKyberPreKeyId';
const lastResortOf = (generation: number) => `lastResort:${generation}`;

/** A new device's first generation, as `generateDeviceKeys` made it. */
export async function recordFirstGeneration(memory: E2eeMemory, keys: DeviceKeys): Promise<void> {
  await memory.setCounter(GENERATION, keys.signedPreKey.keyId);
  await memory.setCounter(OLDEST_KEPT, keys.signedPreKey.keyId);
  await memory.setCounter(lastResortOf(keys.signedPreKey.keyId), keys.lastResortKyberPreKey.keyId);
}

/** Replaces the signed prekeys when they are due (uploading the new pair), then drops retired pairs past their keep. True if it rotated. */
export async function rotateSignedPreKeys(store: ProtocolStore, memory: E2eeMemory, directory: KeyDirectory, now = Date.now()): Promise<boolean> {
  const generation = (await memory.getCounter(GENERATION)) ?? 1;
  const current = await store.loadSignedPreKey(generation);
  const due = !current || now - current.timestamp >= SIGNED_PREKEY_ROTATION_MS;
  if (due) {
    const identity = await store.getIdentityKeyPair();
    const next = generation + 1;
    const kyberId = (await memory.getCounter(NEXT_KYBER_ID)) ?? 1;
    const signedPreKey = generateSignedPreKey(identity, next, now);
    const lastResortKyberPreKey = generateKyberPreKey(identity, kyberId, true, now);
    await store.storeSignedPreKey(signedPreKey);
    await store.storeKyberPreKey(lastResortKyberPreKey);
    await directory.upload(keyUploadBody({ registrationId: await store.getLocalRegistrationId(), identity, signedPreKey, lastResortKyberPreKey }));
    await memory.setCounter(lastResortOf(next), kyberId);
    await memory.setCounter(NEXT_KYBER_ID, kyberId + 1);
    await memory.setCounter(GENERATION, next);
  }
  await pruneRetired(store, memory, now);
  return due;
}

/** Drops each retired generation once the one that replaced it is older than the keep. */
async function pruneRetired(store: ProtocolStore, memory: E2eeMemory, now: number): Promise<void> {
  const generation = (await memory.getCounter(GENERATION)) ?? 1;
  let oldest = (await memory.getCounter(OLDEST_KEPT)) ?? generation;
  while (oldest < generation) {
    const successor = await store.loadSignedPreKey(oldest + 1);
    if (successor && now - successor.timestamp < RETIRED_PREKEY_KEEP_MS) break;
    await store.removeSignedPreKey(oldest);
    const kyberId = await memory.getCounter(lastResortOf(oldest));
    if (kyberId !== undefined) await store.removeKyberPreKey(kyberId);
    oldest++;
  }
  await memory.setCounter(OLDEST_KEPT, oldest);
}
