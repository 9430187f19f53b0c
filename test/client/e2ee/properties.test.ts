/**
 * Property tests (fast-check).
 * - Any interleaving of sends both ways with any delivery order, duplication or loss:
 *   each message decrypts at most once and to exactly its plaintext, a repeat fails with
 *   DuplicateMessage, nothing else is thrown (a late message fails only if its chain was
 *   dropped: more than MAX_RECEIVER_CHAINS ratchet steps old), and afterwards fresh
 *   messages both ways still decrypt (no corruption).
 * - Flipping bits of any byte of a SignalMessage fails authentication with a typed error
 *   (InvalidMessage, or DuplicateMessage when the change points the counter at a used key),
 *   and the untouched message still decrypts after: the session was not changed.
 * - The same for a PreKeySignalMessage, except the registration id field, which libsignal's
 *   layout does not authenticate (it is only stored; see the report).
 * - Sender Keys: any order, duplication or loss of a sender's run decrypts each message
 *   at most once and exactly; any flipped byte fails verification with a typed error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DuplicateMessageError, E2eeError, InvalidMessageError, type Json } from '../../../src/client/e2ee/index.js';
import { decodeSignalMessage } from '../../../src/client/e2ee/messages.js';
import { fromJson } from '../../../src/client/e2ee/serialize.js';
import type { SessionRecord } from '../../../src/client/e2ee/session.js';
import { bundleOf, device, pair, read, text, type TestDevice } from './helpers.js';

const TYPED = ['invalid_message', 'duplicate_message', 'no_session'];

async function outcome(p: Promise<Uint8Array>): Promise<{ ok: string } | { error: unknown }> {
  try {
    return { ok: read(await p) };
  } catch (error) {
    return { error };
  }
}

function knowsRatchetKey(d: TestDevice, peer: TestDevice, data: Uint8Array): boolean {
  const record = fromJson<SessionRecord>(d.store.sessions.get(`${peer.address.userId}.${peer.address.deviceId}`) as Json);
  const key = Buffer.from(decodeSignalMessage(data).ratchetKey).toString('hex');
  return [record.current, ...record.previous].some((s) => s?.receiverChains.some((c) => Buffer.from(c.ratchetKey).toString('hex') === key));
}

describe('ratchet properties', () => {
  it('any order, duplication or loss: each message decrypts at most once, exactly, and later messages still work', async () => {
    const action = fc.oneof(fc.record({ send: fc.constantFrom<'a' | 'b'>('a', 'b') }), fc.record({ deliver: fc.nat(40) }));
    await fc.assert(
      fc.asyncProperty(fc.array(action, { maxLength: 40 }), async (actions) => {
        const { alice, bob } = await pair();
        const sent: { to: TestDevice; from: TestDevice; kind: 'prekey' | 'message'; data: Uint8Array; body: string; delivered: boolean }[] = [];
        let n = 0;
        for (const a of actions) {
          if ('send' in a) {
            const [from, to] = a.send === 'a' ? [alice, bob] : [bob, alice];
            const body = `${a.send}-${n++}`;
            const m = await from.e2ee.encrypt(to.address, text(body));
            sent.push({ from, to, kind: m.kind, data: m.data, body, delivered: false });
          } else if (sent.length > 0) {
            const m = sent[a.deliver % sent.length]!;
            const got = await outcome(m.to.e2ee.decrypt(m.from.address, m.kind, m.data));
            if (m.delivered) {
              expect('error' in got && got.error instanceof DuplicateMessageError).toBe(true);
            } else if ('ok' in got) {
              expect(got.ok).toBe(m.body);
              m.delivered = true;
            } else {
              // Only a message from a chain the receiver no longer keeps may fail, and only as invalid.
              expect(got.error).toBeInstanceOf(InvalidMessageError);
              expect(knowsRatchetKey(m.to, m.from, m.data)).toBe(false);
            }
          }
        }
        for (const [from, to] of [[alice, bob], [bob, alice]] as const) {
          const m = await from.e2ee.encrypt(to.address, text('after'));
          expect(read(await to.e2ee.decrypt(from.address, m.kind, m.data))).toBe('after');
        }
      }),
      { numRuns: 60 },
    );
  });

  it('flipping any byte of a SignalMessage fails with a typed error and leaves the session working', async () => {
    const { alice, bob } = await pair();
    const msgs = [];
    for (let i = 0; i < 3; i++) msgs.push(await alice.e2ee.encrypt(bob.address, text(`tamper target ${i}`)));
    const target = msgs[1]!;
    await fc.assert(
      fc.asyncProperty(fc.nat(target.data.length - 1), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
        const bad = Uint8Array.from(target.data);
        bad[at]! ^= xor;
        const got = await outcome(bob.e2ee.decrypt(alice.address, 'message', bad));
        expect('error' in got && got.error instanceof E2eeError && TYPED.includes(got.error.code)).toBe(true);
      }),
      { numRuns: 300 },
    );
    // Every byte position at least once, with one flip pattern.
    for (let at = 0; at < target.data.length; at++) {
      const bad = Uint8Array.from(target.data);
      bad[at]! ^= 0x01;
      const got = await outcome(bob.e2ee.decrypt(alice.address, 'message', bad));
      expect('error' in got).toBe(true);
    }
    for (const [i, m] of msgs.entries()) expect(read(await bob.e2ee.decrypt(alice.address, m.kind, m.data))).toBe(`tamper target ${i}`);
  });

  it('flipping any authenticated byte of a PreKeySignalMessage fails with a typed error, consumes no prekey, and the real one then works', async () => {
    const alice = await device('alice');
    const bob = await device('bob');
    await alice.e2ee.processPreKeyBundle(bob.address, bundleOf(bob));
    const first = await alice.e2ee.encrypt(bob.address, text('first'));
    const regAt = registrationIdRange(first.data);
    const positions = fc.nat(first.data.length - 1).filter((at) => at < regAt.start || at >= regAt.end);
    await fc.assert(
      fc.asyncProperty(positions, fc.integer({ min: 1, max: 255 }), async (at, xor) => {
        // The low nibble of the outer version byte is the highest version the sender speaks:
        // read but not authenticated (as in libsignal), so flipping only it is no tampering.
        fc.pre(!(at === 0 && (xor & 0xf0) === 0));
        const bad = Uint8Array.from(first.data);
        bad[at]! ^= xor;
        const got = await outcome(bob.e2ee.decrypt(alice.address, 'prekey', bad));
        expect('error' in got && got.error instanceof E2eeError).toBe(true);
        expect(bob.store.sessions.size).toBe(0);
      }),
      { numRuns: 150 },
    );
    expect(bob.store.preKeys.size).toBe(3);
    expect(read(await bob.e2ee.decrypt(alice.address, first.kind, first.data))).toBe('first');
    expect(bob.store.preKeys.size).toBe(2);
  });
});

/** Where the registration id field (tag 0x28 and its varint) sits in our PreKeySignalMessage encoding. */
function registrationIdRange(data: Uint8Array): { start: number; end: number } {
  let at = 1;
  const varint = () => {
    let v = 0;
    let scale = 1;
    for (;;) {
      const b = data[at++]!;
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 128;
    }
  };
  for (;;) {
    const start = at;
    const key = varint();
    if (key === 0x28) {
      varint();
      return { start, end: at };
    }
    // (The length is read first: `at += varint()` would add to the position from before the read.)
    const value = varint();
    if (key % 8 !== 0) at += value;
  }
}

describe('sender key properties', () => {
  it('any order, duplication or loss of a sender’s run decrypts each message at most once and exactly', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 25 }), fc.array(fc.nat(30), { maxLength: 50 }), async (count, schedule) => {
        const carol = await device('carol', 'd1', { preKeys: 0, kyberPreKeys: 0 });
        const dave = await device('dave', 'd1', { preKeys: 0, kyberPreKeys: 0 });
        await dave.e2ee.processDistribution('g', carol.address, await carol.e2ee.createDistribution('g'));
        const run = [];
        for (let i = 0; i < count; i++) run.push(await carol.e2ee.groupEncrypt('g', text(`g${i}`)));
        const seen = new Set<number>();
        for (const pick of schedule) {
          const i = pick % count;
          const got = await outcome(dave.e2ee.groupDecrypt('g', carol.address, run[i]!));
          if (seen.has(i)) expect('error' in got && got.error instanceof DuplicateMessageError).toBe(true);
          else expect(got).toEqual({ ok: `g${i}` });
          seen.add(i);
        }
        const last = await carol.e2ee.groupEncrypt('g', text('after'));
        expect(read(await dave.e2ee.groupDecrypt('g', carol.address, last))).toBe('after');
      }),
      { numRuns: 40 },
    );
  });

  it('flipping any byte of a SenderKeyMessage fails with a typed error and changes nothing', async () => {
    const carol = await device('carol', 'd1', { preKeys: 0, kyberPreKeys: 0 });
    const dave = await device('dave', 'd1', { preKeys: 0, kyberPreKeys: 0 });
    await dave.e2ee.processDistribution('g', carol.address, await carol.e2ee.createDistribution('g'));
    const m = await carol.e2ee.groupEncrypt('g', text('signed'));
    const before = JSON.stringify(dave.store.senderKeys.get('g/carol.d1'));
    await fc.assert(
      fc.asyncProperty(fc.nat(m.length - 1), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
        const bad = Uint8Array.from(m);
        bad[at]! ^= xor;
        const got = await outcome(dave.e2ee.groupDecrypt('g', carol.address, bad));
        expect('error' in got && got.error instanceof E2eeError && TYPED.includes(got.error.code)).toBe(true);
      }),
      { numRuns: 300 },
    );
    expect(JSON.stringify(dave.store.senderKeys.get('g/carol.d1'))).toBe(before);
    expect(read(await dave.e2ee.groupDecrypt('g', carol.address, m))).toBe('signed');
  });
});
