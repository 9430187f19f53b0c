/**
 * Test helpers: devices with in-memory stores, and the prekey bundle the key directory
 * would hand out for one of them (one one-time key of each kind taken, as a claim does).
 */
import { E2ee, generateDeviceKeys, inMemoryDevice, type Address, type DeviceKeys, type InMemoryProtocolStore, type PreKeyBundle } from '../../../src/client/e2ee/index.js';

export interface TestDevice {
  address: Address;
  keys: DeviceKeys;
  store: InMemoryProtocolStore;
  e2ee: E2ee;
  identityChanges: Address[];
}

export async function device(userId: string, deviceId = 'd1', counts = { preKeys: 3, kyberPreKeys: 2 }): Promise<TestDevice> {
  const keys = generateDeviceKeys(counts);
  const store = await inMemoryDevice(keys);
  const address = { userId, deviceId };
  const identityChanges: Address[] = [];
  return { address, keys, store, identityChanges, e2ee: new E2ee({ store, localAddress: address, onIdentityChange: (a) => identityChanges.push(a) }) };
}

/** A bundle like the directory's claim: the next unused one-time keys, or the last-resort Kyber key when none is left. */
export function bundleOf(d: TestDevice, take = 0): PreKeyBundle {
  const k = d.keys;
  const preKey = k.preKeys[take];
  const kyber = k.kyberPreKeys[take] ?? k.lastResortKyberPreKey;
  return {
    registrationId: k.registrationId,
    identityKey: k.identity.publicKey,
    signedPreKeyId: k.signedPreKey.keyId,
    signedPreKey: k.signedPreKey.keyPair.publicKey,
    signedPreKeySignature: k.signedPreKey.signature,
    kyberPreKeyId: kyber.keyId,
    kyberPreKey: kyber.keyPair.publicKey,
    kyberPreKeySignature: kyber.signature,
    preKeyId: preKey?.keyId,
    preKey: preKey?.keyPair.publicKey,
  };
}

export const text = (s: string) => new TextEncoder().encode(s);
export const read = (b: Uint8Array) => new TextDecoder().decode(b);

/** Alice and Bob with a session both ways (Alice's prekey message processed, Bob replied). */
export async function pair(): Promise<{ alice: TestDevice; bob: TestDevice }> {
  const alice = await device('alice');
  const bob = await device('bob');
  await alice.e2ee.processPreKeyBundle(bob.address, bundleOf(bob));
  const first = await alice.e2ee.encrypt(bob.address, text('hello'));
  await bob.e2ee.decrypt(alice.address, first.kind, first.data);
  const reply = await bob.e2ee.encrypt(alice.address, text('hi'));
  await alice.e2ee.decrypt(bob.address, reply.kind, reply.data);
  return { alice, bob };
}
