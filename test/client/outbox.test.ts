import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Cmid, type MessageContent } from '../../src/protocol/index.js';
import { MemoryOutboxStore, Outbox, newCmid, type OutboxEntry, type OutboxStore } from '../../src/client/outbox.js';

const RUNS = { numRuns: 200 };
const CONVERSATIONS = ['g_one', 'g_two', 'dm_three'];

const text = (t: string): MessageContent => ({ type: 'text', text: t });

/** A cmid factory that counts, so tests can name entries. */
function counter(prefix = 'cmid') {
  let n = 0;
  return () => `${prefix}${String(++n).padStart(6, '0')}`;
}

/** A store that delegates to memory but can be told to fail its next write. */
class FlakyStore implements OutboxStore {
  readonly inner = new MemoryOutboxStore();
  failNext = false;
  load() {
    return this.inner.load();
  }
  put(entry: OutboxEntry) {
    return this.#maybeFail() ?? this.inner.put(entry);
  }
  delete(cmid: string) {
    return this.#maybeFail() ?? this.inner.delete(cmid);
  }
  #maybeFail(): Promise<never> | undefined {
    if (!this.failNext) return undefined;
    this.failNext = false;
    return Promise.reject(new Error('disk full'));
  }
}

const entry = fc.record({
  cmid: fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/),
  conversationId: fc.constantFrom(...CONVERSATIONS),
  content: fc.string({ minLength: 1, maxLength: 50 }).map(text),
  createdAt: fc.integer({ min: 0, max: 2 ** 45 }),
  attempts: fc.nat({ max: 20 }),
});

describe('newCmid', () => {
  it('makes ids the protocol accepts, without repeats', () => {
    const ids = Array.from({ length: 1_000 }, newCmid);
    expect(ids.every((id) => Cmid.safeParse(id).success && /^[A-Za-z0-9_-]{8,64}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('MemoryOutboxStore', () => {
  it('loads what was put, in first-put order, replacing in place', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(entry, { selector: (e) => e.cmid, maxLength: 30 }), fc.nat(), async (entries, k) => {
        const store = new MemoryOutboxStore();
        for (const e of entries) await store.put(e);
        expect(await store.load()).toEqual(entries);

        if (entries.length === 0) return;
        const target = entries[k % entries.length]!;
        const updated = { ...target, attempts: target.attempts + 1 };
        await store.put(updated);
        expect(await store.load()).toEqual(entries.map((e) => (e.cmid === target.cmid ? updated : e)));

        await store.delete(target.cmid);
        expect(await store.load()).toEqual(entries.filter((e) => e.cmid !== target.cmid));
      }),
      RUNS,
    );
  });

  it('keeps its own copies', async () => {
    const store = new MemoryOutboxStore();
    const e: OutboxEntry = { cmid: 'cmid0001', conversationId: 'g_one', content: text('hi'), createdAt: 1, attempts: 0 };
    await store.put(e);
    e.attempts = 99;
    (await store.load())[0]!.attempts = 42;
    expect((await store.load())[0]!.attempts).toBe(0);
  });
});

describe('Outbox', () => {
  it('persists before add() resolves, with a fresh entry', async () => {
    const store = new MemoryOutboxStore();
    const outbox = new Outbox(store, { now: () => 1_234 });
    const added = await outbox.add('g_one', text('hello'));
    expect(added).toMatchObject({ conversationId: 'g_one', content: text('hello'), createdAt: 1_234, attempts: 0 });
    expect(Cmid.safeParse(added.cmid).success).toBe(true);
    expect(await store.load()).toEqual([added]);
  });

  it("is one user's: another user signed in on the device never loads it, and sign-out discards it", async () => {
    const store = new MemoryOutboxStore();
    const alice = new Outbox(store);
    await alice.restore('u_alice');
    const hers = await alice.add('dm_shared', text('from alice'));
    expect(hers.userId).toBe('u_alice');
    // A reload, and Bob signs in on the same device: Alice's unsent message is not his to send.
    const bob = new Outbox(store);
    expect(await bob.restore('u_bob')).toEqual([]);
    const his = await bob.add('dm_shared', text('from bob'));
    // Alice comes back: hers only.
    expect((await new Outbox(store).restore('u_alice')).map((e) => e.cmid)).toEqual([hers.cmid]);
    // Alice signs out from an outbox that never restored: her entries go, Bob's stay.
    await new Outbox(store).discard('u_alice');
    expect((await store.load()).map((e) => e.cmid)).toEqual([his.cmid]);
  });

  it('refuses what the server would reject, storing nothing', async () => {
    const store = new MemoryOutboxStore();
    const outbox = new Outbox(store);
    expect(() => outbox.add('g_one', text(''))).toThrow();
    expect(() => outbox.add('g_one', text('x'.repeat(4_001)))).toThrow();
    expect(() => outbox.add('not a valid id', text('hi'))).toThrow();
    expect([outbox.pending(), await store.load()]).toEqual([[], []]);
  });

  it('acks, fails and counts attempts', async () => {
    const outbox = new Outbox(new MemoryOutboxStore(), { newCmid: counter() });
    const a = await outbox.add('g_one', text('a'));
    const b = await outbox.add('g_two', text('b'));
    const c = await outbox.add('g_one', text('c'));

    expect((await outbox.attempt(b.cmid))?.attempts).toBe(1);
    expect(await outbox.ack(a.cmid)).toBe(true);
    expect(await outbox.ack(a.cmid)).toBe(false); // a duplicate ack
    expect(await outbox.fail(c.cmid)).toEqual(c);
    expect(await outbox.fail(c.cmid)).toBeUndefined();
    expect(await outbox.attempt(c.cmid)).toBeUndefined();
    expect(outbox.pending()).toEqual([{ ...b, attempts: 1 }]);
  });

  it('keeps state unchanged when the store fails, and goes on afterwards', async () => {
    const store = new FlakyStore();
    const outbox = new Outbox(store, { newCmid: counter() });
    const a = await outbox.add('g_one', text('a'));

    store.failNext = true;
    await expect(outbox.add('g_one', text('b'))).rejects.toThrow('disk full');
    store.failNext = true;
    await expect(outbox.ack(a.cmid)).rejects.toThrow('disk full');
    expect(outbox.pending()).toEqual([a]);

    expect(await outbox.ack(a.cmid)).toBe(true);
    expect([outbox.pending(), await store.load()]).toEqual([[], []]);
  });

  it('does not let restore() undo an ack issued while it runs', async () => {
    const store = new MemoryOutboxStore();
    const before = new Outbox(store, { newCmid: counter() });
    const a = await before.add('g_one', text('a'));
    const b = await before.add('g_one', text('b'));

    const after = new Outbox(store);
    const restoring = after.restore();
    const acking = after.ack(a.cmid);
    expect(await restoring).toEqual([a, b]);
    expect(await acking).toBe(true);
    expect(after.pending()).toEqual([b]);
  });

  it('skips records it cannot read, and leaves them stored', async () => {
    const store = new MemoryOutboxStore();
    const broken = { cmid: 'cmid0001', conversationId: 'g_one', content: { type: 'sticker' }, createdAt: 1, attempts: 0 };
    await store.put(broken as unknown as OutboxEntry);
    const outbox = new Outbox(store);
    expect(await outbox.restore()).toEqual([]);
    expect(await store.load()).toEqual([broken]);
  });

  type Op =
    | { kind: 'add'; conversation: number; text: string }
    | { kind: 'ack' | 'fail' | 'attempt'; pick: number }
    | { kind: 'reload' };

  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('add' as const), conversation: fc.nat({ max: 2 }), text: fc.string({ minLength: 1, maxLength: 20 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('ack' as const, 'fail' as const, 'attempt' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'reload' as const }) },
  );

  it('matches a simple list model through adds, acks, failures and reloads', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
        const store = new MemoryOutboxStore();
        const nextCmid = counter();
        let outbox = new Outbox(store, { newCmid: nextCmid });
        let model: OutboxEntry[] = [];

        for (const o of ops) {
          if (o.kind === 'add') {
            model.push(await outbox.add(CONVERSATIONS[o.conversation]!, text(o.text)));
          } else if (o.kind === 'reload') {
            outbox = new Outbox(store, { newCmid: nextCmid });
            expect(await outbox.restore()).toEqual(model);
          } else {
            // Sometimes a cmid that is not pending: a duplicate or stray ack.
            const cmid = model[o.pick % (model.length + 1)]?.cmid ?? 'unknown00';
            if (o.kind === 'attempt') {
              await outbox.attempt(cmid);
              model = model.map((e) => (e.cmid === cmid ? { ...e, attempts: e.attempts + 1 } : e));
            } else {
              await outbox[o.kind](cmid);
              model = model.filter((e) => e.cmid !== cmid);
            }
          }
          expect(outbox.pending()).toEqual(model);
        }

        // A reload at the end keeps everything pending, in order, per conversation too.
        const reloaded = new Outbox(store);
        expect(await reloaded.restore()).toEqual(model);
        for (const id of CONVERSATIONS) {
          expect(reloaded.pending(id)).toEqual(model.filter((e) => e.conversationId === id));
        }
      }),
      RUNS,
    );
  });
});
