/**
 * Sender Key groups through the E2ee API: a distribution reaches each member, one
 * ciphertext reads for all of them, a member without our distribution cannot read, a
 * rotation (member removed) gives a new chain the removed member never receives, and a
 * distribution offered twice cannot rewind the chain to replay old messages.
 */
import { describe, expect, it } from 'vitest';
import { DuplicateMessageError, E2eeError, NoSessionError } from '../../../src/client/e2ee/index.js';
import { device, read, text } from './helpers.js';

const none = { preKeys: 0, kyberPreKeys: 0 };

describe('Sender Key groups', () => {
  it('one ciphertext for all members; a removed member cannot read after the sender rotates', async () => {
    const [alice, bob, carol] = await Promise.all([device('alice', 'd1', none), device('bob', 'd1', none), device('carol', 'd1', none)]);
    const skdm = await alice.e2ee.createDistribution('g');
    for (const m of [bob, carol]) await m.e2ee.processDistribution('g', alice.address, skdm);
    const c1 = await alice.e2ee.groupEncrypt('g', text('to everyone'));
    expect(read(await bob.e2ee.groupDecrypt('g', alice.address, c1))).toBe('to everyone');
    expect(read(await carol.e2ee.groupDecrypt('g', alice.address, c1))).toBe('to everyone');

    // Carol is removed: Alice rotates and distributes the new chain to Bob only.
    await alice.e2ee.rotateSenderKey('g');
    const fresh = await alice.e2ee.createDistribution('g');
    expect(Buffer.from(fresh).equals(Buffer.from(skdm))).toBe(false);
    await bob.e2ee.processDistribution('g', alice.address, fresh);
    const c2 = await alice.e2ee.groupEncrypt('g', text('after carol left'));
    expect(read(await bob.e2ee.groupDecrypt('g', alice.address, c2))).toBe('after carol left');
    await expect(carol.e2ee.groupDecrypt('g', alice.address, c2)).rejects.toBeInstanceOf(E2eeError);
  });

  it('a member without the sender’s distribution gets NoSession', async () => {
    const [alice, dave] = await Promise.all([device('alice', 'd1', none), device('dave', 'd1', none)]);
    await alice.e2ee.createDistribution('g');
    const c = await alice.e2ee.groupEncrypt('g', text('x'));
    await expect(dave.e2ee.groupDecrypt('g', alice.address, c)).rejects.toBeInstanceOf(NoSessionError);
  });

  it('the same distribution processed again does not rewind the chain (no replay)', async () => {
    const [alice, bob] = await Promise.all([device('alice', 'd1', none), device('bob', 'd1', none)]);
    const skdm = await alice.e2ee.createDistribution('g');
    await bob.e2ee.processDistribution('g', alice.address, skdm);
    const c = await alice.e2ee.groupEncrypt('g', text('once'));
    expect(read(await bob.e2ee.groupDecrypt('g', alice.address, c))).toBe('once');
    await bob.e2ee.processDistribution('g', alice.address, skdm);
    await expect(bob.e2ee.groupDecrypt('g', alice.address, c)).rejects.toBeInstanceOf(DuplicateMessageError);
  });

  it('a later distribution of the same chain starts at its current iteration (a new member reads only what follows)', async () => {
    const [alice, bob, erin] = await Promise.all([device('alice', 'd1', none), device('bob', 'd1', none), device('erin', 'd1', none)]);
    await bob.e2ee.processDistribution('g', alice.address, await alice.e2ee.createDistribution('g'));
    const before = await alice.e2ee.groupEncrypt('g', text('before erin'));
    await erin.e2ee.processDistribution('g', alice.address, await alice.e2ee.createDistribution('g'));
    const after = await alice.e2ee.groupEncrypt('g', text('after erin'));
    expect(read(await erin.e2ee.groupDecrypt('g', alice.address, after))).toBe('after erin');
    await expect(erin.e2ee.groupDecrypt('g', alice.address, before)).rejects.toBeInstanceOf(E2eeError);
    expect(read(await bob.e2ee.groupDecrypt('g', alice.address, before))).toBe('before erin');
  });
});
