/**
 * The Messenger (src/client/e2ee/messenger.ts) over devices in memory: a group's first
 * message to more new devices than one frame can carry hands its sender key out in `keys`
 * envelopes ahead of it, each within the frame, and every device reads the message.
 */
import { describe, expect, it } from 'vitest';
import { E2EE, EncryptedContent, LIMITS, type ClaimedKeys, type DeviceList } from '../../../src/protocol/index.js';
import { toBase64url } from '../../../src/client/e2ee/bytes.js';
import type { KeyDirectory } from '../../../src/client/e2ee/directory.js';
import { MemoryE2eeMemory, Messenger } from '../../../src/client/e2ee/messenger.js';
import { bundleOf, device, type TestDevice } from './helpers.js';

interface Member extends TestDevice {
  messenger: Messenger;
  taken: number;
}

/** The key directory's answers, from the devices themselves (each claim takes the next one-time keys). */
function directoryOf(devices: Member[]): KeyDirectory {
  const of = (userId: string) => devices.filter((d) => d.address.userId === userId);
  const wire = (d: Member) => {
    const b = bundleOf(d, d.taken++);
    const key = (keyId: number, publicKey: Uint8Array, signature?: Uint8Array) => ({ keyId, publicKey: toBase64url(publicKey), ...(signature ? { signature: toBase64url(signature) } : {}) });
    return {
      deviceId: d.address.deviceId,
      registrationId: b.registrationId,
      identityKey: toBase64url(b.identityKey),
      signedPreKey: key(b.signedPreKeyId, b.signedPreKey, b.signedPreKeySignature) as { keyId: number; publicKey: string; signature: string },
      pqPreKey: { ...(key(b.kyberPreKeyId, b.kyberPreKey, b.kyberPreKeySignature) as { keyId: number; publicKey: string; signature: string }), lastResort: false },
      ...(b.preKey && b.preKeyId !== undefined ? { oneTimePreKey: { keyId: b.preKeyId, publicKey: toBase64url(b.preKey) } } : {}),
    };
  };
  return {
    devices: async (userId: string): Promise<DeviceList> => ({
      userId,
      version: 1,
      devices: of(userId).map((d) => ({ deviceId: d.address.deviceId, registrationId: d.keys.registrationId, identityKey: toBase64url(d.keys.identity.publicKey) })),
    }),
    claim: async (userId: string, deviceIds?: string[]): Promise<ClaimedKeys> => ({
      userId,
      version: 1,
      bundles: of(userId).filter((d) => !deviceIds || deviceIds.includes(d.address.deviceId)).map(wire),
    }),
    noteChanged: () => undefined,
  } as unknown as KeyDirectory;
}

async function group(users: number, devicesEach: number): Promise<Member[]> {
  const members: Member[] = [];
  for (let u = 0; u < users; u++) {
    for (let d = 0; d < devicesEach; d++) members.push({ ...(await device(`u${u}`, `d${d}`, { preKeys: 2, kyberPreKeys: 2 })), taken: 0 } as Member);
  }
  const directory = directoryOf(members);
  for (const m of members) m.messenger = new Messenger(m.address, directory, m.e2ee, new MemoryE2eeMemory());
  return members;
}

describe('a group message to many new devices', () => {
  it('sends the sender key ahead in keys envelopes that each fit a frame, and every device reads the message', async () => {
    const members = await group(3, E2EE.maxDevicesPerUser);
    const [sender, ...others] = members;
    const target = { id: 'g_big', kind: 'group' as const, memberIds: ['u0', 'u1', 'u2'] };
    const sealed = await sender!.messenger.encrypt(target, { type: 'text', text: 'hello, all thirty devices' });

    expect(sealed.preludes.length).toBeGreaterThan(0);
    const envelopes = [...sealed.preludes, sealed.content];
    for (const envelope of envelopes) {
      expect(EncryptedContent.safeParse(envelope).success).toBe(true);
      expect(JSON.stringify(envelope).length).toBeLessThan(LIMITS.maxFrameBytes);
    }
    expect(sealed.preludes.every((p) => p.notice === 'keys')).toBe(true);
    const named = envelopes.flatMap((e) => e.entries.map((entry) => `${entry.userId}/${entry.deviceId}`));
    expect(named.sort()).toEqual(others.map((m) => `${m.address.userId}/${m.address.deviceId}`).sort());

    for (const member of others) {
      let seq = 0;
      for (const prelude of sealed.preludes) expect(await member.messenger.decrypt(target.id, ++seq, sender!.address, prelude)).toBeNull();
      expect(await member.messenger.decrypt(target.id, ++seq, sender!.address, sealed.content)).toEqual({ type: 'text', text: 'hello, all thirty devices' });
    }
  }, 60_000);

  it('needs no keys envelope when every entry fits in the message', async () => {
    const [sender] = await group(2, 2);
    const sealed = await sender!.messenger.encrypt({ id: 'g_small', kind: 'group', memberIds: ['u0', 'u1'] }, { type: 'text', text: 'hi' });
    expect(sealed.preludes).toEqual([]);
    expect(sealed.content.entries).toHaveLength(3);
  });
});
