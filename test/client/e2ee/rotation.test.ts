/**
 * Signed prekey rotation on the device (src/client/e2ee/rotation.ts): the pair is replaced
 * when due and uploaded; a session started from the replaced pair still opens while it is
 * kept; a pair past its keep is gone from the store.
 */
import { describe, expect, it } from 'vitest';
import { MemoryE2eeMemory } from '../../../src/client/e2ee/messenger.js';
import { NEXT_KYBER_ID, RETIRED_PREKEY_KEEP_MS, SIGNED_PREKEY_ROTATION_MS, recordFirstGeneration, rotateSignedPreKeys } from '../../../src/client/e2ee/rotation.js';
import type { KeyDirectory } from '../../../src/client/e2ee/directory.js';
import type { KeyUploadBody } from '../../../src/protocol/index.js';
import { utf8 } from '../../../src/client/e2ee/index.js';
import { bundleOf, device } from './helpers.js';

const DAY = 24 * 60 * 60 * 1000;

async function rotating() {
  const bob = await device('bob', 'd1', { preKeys: 2, kyberPreKeys: 2 });
  const memory = new MemoryE2eeMemory();
  await recordFirstGeneration(memory, bob.keys);
  await memory.setCounter(NEXT_KYBER_ID, bob.keys.kyberPreKeys.length + 2);
  const uploads: KeyUploadBody[] = [];
  const directory = { upload: async (body: KeyUploadBody) => void uploads.push(body) } as unknown as KeyDirectory;
  const t0 = bob.keys.signedPreKey.timestamp;
  return { bob, memory, uploads, t0, rotate: (at: number) => rotateSignedPreKeys(bob.store, memory, directory, at) };
}

describe('signed prekey rotation', () => {
  it('replaces the pair only when due, and uploads the new one', async () => {
    const { bob, uploads, t0, rotate } = await rotating();
    expect(await rotate(t0 + DAY)).toBe(false);
    expect(uploads).toEqual([]);
    expect(await rotate(t0 + SIGNED_PREKEY_ROTATION_MS)).toBe(true);
    expect(uploads).toHaveLength(1);
    expect(uploads[0]!.signedPreKey.keyId).toBe(2);
    expect(uploads[0]!.pqLastResortPreKey.keyId).toBe(4);
    expect(uploads[0]!.oneTimePreKeys).toEqual([]);
    expect([...bob.store.signedPreKeys.keys()].sort()).toEqual([1, 2]);
  });

  it('still opens a session begun from the replaced pair while it is kept, and drops it after', async () => {
    const { bob, t0, rotate } = await rotating();
    const alice = await device('alice');
    const oldBundle = bundleOf(bob, 0);
    await rotate(t0 + SIGNED_PREKEY_ROTATION_MS);
    await alice.e2ee.processPreKeyBundle(bob.address, oldBundle);
    const first = await alice.e2ee.encrypt(bob.address, utf8('late first message'));
    expect(new TextDecoder().decode(await bob.e2ee.decrypt(alice.address, first.kind, first.data))).toBe('late first message');

    const lastResortBefore = bob.keys.lastResortKyberPreKey.keyId;
    await rotate(t0 + SIGNED_PREKEY_ROTATION_MS + RETIRED_PREKEY_KEEP_MS - 1);
    expect(bob.store.signedPreKeys.has(1)).toBe(true);
    await rotate(t0 + SIGNED_PREKEY_ROTATION_MS + RETIRED_PREKEY_KEEP_MS);
    expect(bob.store.signedPreKeys.has(1)).toBe(false);
    expect(bob.store.kyberPreKeys.has(lastResortBefore)).toBe(false);
    expect(bob.store.signedPreKeys.has(2)).toBe(true);
  });
});
