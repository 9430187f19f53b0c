/**
 * Pairwise sessions between two of our own devices: PQXDH set-up from a bundle, the
 * prekey message until the first reply, one-time prekeys consumed, trust on first use and
 * identity changes, replays refused without harm, and forward secrecy (a used message key
 * is gone from the stored session).
 */
import { describe, expect, it } from 'vitest';
import { toBase64url, toJson, DuplicateMessageError, InvalidKeyError, InvalidMessageError, MissingPreKeyError, NoSessionError, UntrustedIdentityError, E2ee, type Json } from '../../../src/client/e2ee/index.js';
import { fromJson } from '../../../src/client/e2ee/serialize.js';
import { deriveMessageKeys, messageKeySeed, nextChainKey } from '../../../src/client/e2ee/kdf.js';
import { encryptWithState, MAX_FORWARD_JUMPS, MAX_MESSAGE_KEYS } from '../../../src/client/e2ee/session.js';
import type { SessionRecord } from '../../../src/client/e2ee/session.js';
import { bundleOf, device, pair, read, text } from './helpers.js';

describe('pairwise sessions', () => {
  it('Alice starts from Bob’s bundle; prekey messages until Bob replies, then plain messages both ways', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await expect(alice.e2ee.encrypt(bob.address, text('x'))).rejects.toBeInstanceOf(NoSessionError);
    await alice.e2ee.processPreKeyBundle(bob.address, bundleOf(bob));
    const m1 = await alice.e2ee.encrypt(bob.address, text('one'));
    const m2 = await alice.e2ee.encrypt(bob.address, text('two'));
    expect([m1.kind, m2.kind]).toEqual(['prekey', 'prekey']);
    expect(m1.data[0]).toBe(0x44); // version 4 (PQXDH) in both nibbles
    expect(read(await bob.e2ee.decrypt(alice.address, m2.kind, m2.data))).toBe('two');
    expect(read(await bob.e2ee.decrypt(alice.address, m1.kind, m1.data))).toBe('one');
    const r = await bob.e2ee.encrypt(alice.address, text('back'));
    expect(r.kind).toBe('message');
    expect(read(await alice.e2ee.decrypt(bob.address, r.kind, r.data))).toBe('back');
    const m3 = await alice.e2ee.encrypt(bob.address, text('three'));
    expect(m3.kind).toBe('message');
    expect(read(await bob.e2ee.decrypt(alice.address, m3.kind, m3.data))).toBe('three');
  });

  it('the one-time prekey and one-time Kyber prekey are removed once used; the last-resort Kyber key stays', async () => {
    const alice = await device('alice');
    const bob = await device('bob', 'd1', { preKeys: 1, kyberPreKeys: 0 });
    const bundle = bundleOf(bob);
    expect(bundle.kyberPreKeyId).toBe(bob.keys.lastResortKyberPreKey.keyId);
    await alice.e2ee.processPreKeyBundle(bob.address, bundle);
    const m = await alice.e2ee.encrypt(bob.address, text('hi'));
    await bob.e2ee.decrypt(alice.address, m.kind, m.data);
    expect(bob.store.preKeys.size).toBe(0);
    expect(bob.store.kyberPreKeys.has(bob.keys.lastResortKyberPreKey.keyId)).toBe(true);

    const carol = await device('carol');
    const dave = await device('dave', 'd1', { preKeys: 1, kyberPreKeys: 1 });
    await carol.e2ee.processPreKeyBundle(dave.address, bundleOf(dave));
    const c = await carol.e2ee.encrypt(dave.address, text('hi'));
    await dave.e2ee.decrypt(carol.address, c.kind, c.data);
    expect(dave.store.kyberPreKeys.has(dave.keys.kyberPreKeys[0]!.keyId)).toBe(false);
    // A second prekey message of the same session still decrypts (the session exists; no key needed).
    const c2 = await carol.e2ee.encrypt(dave.address, text('again'));
    expect(read(await dave.e2ee.decrypt(carol.address, c2.kind, c2.data))).toBe('again');
  });

  it('without a one-time prekey (none left): the signed prekey and the last-resort Kyber key still make a session', async () => {
    const alice = await device('alice');
    const bob = await device('bob', 'd1', { preKeys: 0, kyberPreKeys: 0 });
    const bundle = bundleOf(bob);
    expect(bundle.preKey).toBeUndefined();
    await alice.e2ee.processPreKeyBundle(bob.address, bundle);
    const m = await alice.e2ee.encrypt(bob.address, text('no one-time key'));
    expect(read(await bob.e2ee.decrypt(alice.address, m.kind, m.data))).toBe('no one-time key');
    expect(bob.store.kyberPreKeys.size).toBe(1);
  });

  it('a prekey message naming a consumed one-time prekey from a new session fails with MissingPreKey', async () => {
    const bob = await device('bob', 'd1', { preKeys: 1, kyberPreKeys: 2 });
    const a1 = await device('alice');
    const a2 = await device('alice', 'd2');
    await a1.e2ee.processPreKeyBundle(bob.address, bundleOf(bob));
    await a2.e2ee.processPreKeyBundle(bob.address, bundleOf(bob)); // the same one-time key handed out twice (a broken server)
    const m1 = await a1.e2ee.encrypt(bob.address, text('first'));
    await bob.e2ee.decrypt(a1.address, m1.kind, m1.data);
    const m2 = await a2.e2ee.encrypt(bob.address, text('second'));
    await expect(bob.e2ee.decrypt(a2.address, m2.kind, m2.data)).rejects.toBeInstanceOf(MissingPreKeyError);
  });

  it('a bundle with a bad signature is refused', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    const bundle = bundleOf(bob);
    bundle.kyberPreKeySignature = bundle.kyberPreKeySignature.slice();
    bundle.kyberPreKeySignature[5]! ^= 1;
    await expect(alice.e2ee.processPreKeyBundle(bob.address, bundle)).rejects.toBeInstanceOf(InvalidKeyError);
    const other = bundleOf(bob);
    other.signedPreKey = (await device('mallory')).keys.signedPreKey.keyPair.publicKey;
    await expect(alice.e2ee.processPreKeyBundle(bob.address, other)).rejects.toBeInstanceOf(InvalidKeyError);
  });

  it('a replayed message fails with DuplicateMessage and the session goes on', async () => {
    const { alice, bob } = await pair();
    const m = await alice.e2ee.encrypt(bob.address, text('once'));
    expect(read(await bob.e2ee.decrypt(alice.address, m.kind, m.data))).toBe('once');
    await expect(bob.e2ee.decrypt(alice.address, m.kind, m.data)).rejects.toBeInstanceOf(DuplicateMessageError);
    const n = await alice.e2ee.encrypt(bob.address, text('next'));
    expect(read(await bob.e2ee.decrypt(alice.address, n.kind, n.data))).toBe('next');
  });

  it('forward secrecy: after decrypting, the message key (and its seed) is gone from the stored session', async () => {
    const { alice, bob } = await pair();
    const stored = () => JSON.stringify(bob.store.sessions.get('alice.d1'));
    const ms = [];
    for (let i = 0; i < 4; i++) ms.push(await alice.e2ee.encrypt(bob.address, text(`m${i}`)));
    // Decrypting m3 first leaves m0..m2's keys stored as skipped: they are needed.
    await bob.e2ee.decrypt(alice.address, ms[3]!.kind, ms[3]!.data);
    const record = fromJson<SessionRecord>(bob.store.sessions.get('alice.d1') as Json);
    const chain = record.current!.receiverChains.at(-1)!;
    expect(chain.skipped.map((k) => k.index)).toEqual([0, 1, 2]);
    const seed1 = chain.skipped[1]!.seed;
    const keys1 = deriveMessageKeys(seed1);
    expect(stored()).toContain(toBase64url(seed1));
    await bob.e2ee.decrypt(alice.address, ms[1]!.kind, ms[1]!.data);
    for (const secret of [seed1, keys1.cipherKey, keys1.macKey]) expect(stored()).not.toContain(toBase64url(secret));
    // The key of the message decrypted in order is never stored at all.
    const m4 = await alice.e2ee.encrypt(bob.address, text('m4'));
    const before = fromJson<SessionRecord>(bob.store.sessions.get('alice.d1') as Json).current!.receiverChains.at(-1)!;
    const seed4 = messageKeySeed(before.chainKey);
    await bob.e2ee.decrypt(alice.address, m4.kind, m4.data);
    expect(stored()).not.toContain(toBase64url(seed4));
    expect(stored()).not.toContain(toBase64url(before.chainKey));
  });

  it('the stored session is JSON: a store can persist it and a new E2ee instance goes on from it', async () => {
    const { alice, bob } = await pair();
    const persisted = JSON.parse(JSON.stringify(toJson(fromJson(bob.store.sessions.get('alice.d1') as Json)))) as Json;
    bob.store.sessions.set('alice.d1', persisted);
    const again = new E2ee({ store: bob.store, localAddress: bob.address });
    const m = await alice.e2ee.encrypt(bob.address, text('after restart'));
    expect(read(await again.decrypt(alice.address, m.kind, m.data))).toBe('after restart');
  });

  it('identity: trust on first use; a changed key is accepted with a notice when unverified, refused when verified', async () => {
    const { alice, bob } = await pair();
    const bob2 = await device('bob'); // Bob re-installed: new identity, same address
    await alice.e2ee.processPreKeyBundle(bob.address, bundleOf(bob2));
    expect(alice.identityChanges).toEqual([bob.address]);
    const m = await alice.e2ee.encrypt(bob.address, text('to new bob'));
    expect(read(await bob2.e2ee.decrypt(alice.address, m.kind, m.data))).toBe('to new bob');

    await alice.e2ee.setVerified(bob.address, true);
    const bob3 = await device('bob');
    await expect(alice.e2ee.processPreKeyBundle(bob.address, bundleOf(bob3))).rejects.toBeInstanceOf(UntrustedIdentityError);
    // A prekey message from a changed identity of a verified contact is refused too, and nothing is stored.
    const eve = await device('alice'); // someone else claiming Alice's address
    await bob2.e2ee.setVerified(alice.address, true);
    await eve.e2ee.processPreKeyBundle(bob2.address, bundleOf(bob2, 1));
    const forged = await eve.e2ee.encrypt(bob2.address, text('it is me'));
    await expect(bob2.e2ee.decrypt(alice.address, forged.kind, forged.data)).rejects.toBeInstanceOf(UntrustedIdentityError);
    // After the user accepts the new number, it works.
    await alice.e2ee.trustIdentity(bob.address, bob3.keys.identity.publicKey);
    await alice.e2ee.processPreKeyBundle(bob.address, bundleOf(bob3));
    const n = await alice.e2ee.encrypt(bob.address, text('accepted'));
    expect(read(await bob3.e2ee.decrypt(alice.address, n.kind, n.data))).toBe('accepted');
  });

  it('a message from a different session fails alone (InvalidMessage) and does not disturb the real one', async () => {
    const { alice, bob } = await pair();
    const other = await pair();
    const stray = await other.alice.e2ee.encrypt(other.bob.address, text('stray'));
    await expect(bob.e2ee.decrypt(alice.address, stray.kind, stray.data)).rejects.toBeInstanceOf(InvalidMessageError);
    const m = await alice.e2ee.encrypt(bob.address, text('fine'));
    expect(read(await bob.e2ee.decrypt(alice.address, m.kind, m.data))).toBe('fine');
  });

  it('safety numbers: 60 digits, the same on both sides, different for another key', async () => {
    const { alice, bob } = await pair();
    const a = await alice.e2ee.safetyNumber(bob.address);
    const b = await bob.e2ee.safetyNumber(alice.address);
    expect(a.displayable).toMatch(/^\d{60}$/);
    expect(a.displayable).toBe(b.displayable);
    const { compareScannable } = await import('../../../src/client/e2ee/index.js');
    expect(compareScannable(a.scannable, b.scannable)).toBe(true);
    expect(compareScannable(a.scannable, a.scannable)).toBe(false);
  });

  it('concurrent encrypts and decrypts on one session are serialised (no lost state)', async () => {
    const { alice, bob } = await pair();
    const ms = await Promise.all(Array.from({ length: 20 }, (_, i) => alice.e2ee.encrypt(bob.address, text(`c${i}`))));
    const counters = new Set(ms.map((m) => Buffer.from(m.data).toString('hex')));
    expect(counters.size).toBe(20);
    const out = await Promise.all(ms.map((m) => bob.e2ee.decrypt(alice.address, m.kind, m.data)));
    expect(out.map(read)).toEqual(Array.from({ length: 20 }, (_, i) => `c${i}`));
  });

  it('bounds: a jump beyond MAX_FORWARD_JUMPS is refused without harm; at most MAX_MESSAGE_KEYS skipped keys are kept, oldest dropped', async () => {
    const { alice, bob } = await pair();
    const aliceRecord = () => fromJson<SessionRecord>(alice.store.sessions.get('bob.d1') as Json);
    /** Alice's next message as if she had sent `skip` messages that never arrived. */
    const jumped = (skip: number) => {
      const state = structuredClone(aliceRecord().current!);
      for (let i = 0; i < skip; i++) state.senderChain.chainKey = nextChainKey(state.senderChain.chainKey);
      state.senderChain.index += skip;
      return encryptWithState(state, text(`after ${skip}`)).data;
    };
    const bobBefore = JSON.stringify(bob.store.sessions.get('alice.d1'));
    await expect(bob.e2ee.decrypt(alice.address, 'message', jumped(MAX_FORWARD_JUMPS + 1))).rejects.toThrow(/too far into the future/);
    expect(JSON.stringify(bob.store.sessions.get('alice.d1'))).toBe(bobBefore);

    const lost = [];
    for (let i = 0; i < MAX_MESSAGE_KEYS + 500; i++) lost.push(await alice.e2ee.encrypt(bob.address, text(`m${i}`)));
    const last = await alice.e2ee.encrypt(bob.address, text('last'));
    expect(read(await bob.e2ee.decrypt(alice.address, last.kind, last.data))).toBe('last');
    const chain = fromJson<SessionRecord>(bob.store.sessions.get('alice.d1') as Json).current!.receiverChains.at(-1)!;
    expect(chain.skipped.length).toBe(MAX_MESSAGE_KEYS);
    await expect(bob.e2ee.decrypt(alice.address, 'message', lost[499]!.data)).rejects.toBeInstanceOf(DuplicateMessageError);
    expect(read(await bob.e2ee.decrypt(alice.address, 'message', lost[500]!.data))).toBe('m500');
  });
});
