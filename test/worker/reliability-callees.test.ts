/**
 * Reliability inside workerd: callees that fail. A member's user object whose `apply`
 * throws several times in a row, and a conversation whose alarm (which retries the
 * fan-out) throws several times: each event still reaches every member's device stream
 * exactly once, in order, and the members that did not fail are not held back.
 *
 * The faults are injected by wrapping the method on the class's prototype for one object
 * id only (RPC and alarms dispatch through the prototype), and removed in `finally`.
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { createGroup } from './helpers.js';
import { serviceUser } from './abuse-helpers.js';
import { describeCounts, expectExactlyOnceInOrder, range, readStream, sendUntilStored } from './reliability-helpers.js';

type Method = (this: { ctx: DurableObjectState }, ...args: unknown[]) => Promise<unknown>;

/** Makes `method` throw for the object `stub` the first `times` calls; returns how many it threw and the undo. */
async function failing(stub: DurableObjectStub, method: string, times: number): Promise<{ thrown: () => number; restore: () => void }> {
  const proto = await runInDurableObject(stub, (instance) => Object.getPrototypeOf(instance) as Record<string, Method>);
  const original = proto[method]!;
  const target = stub.id.toString();
  let thrown = 0;
  proto[method] = async function (this: { ctx: DurableObjectState }, ...args: unknown[]) {
    if (this.ctx.id.toString() === target && thrown < times) {
      thrown++;
      throw new Error(`injected: ${method} fails (${thrown} of ${times})`);
    }
    return original.apply(this, args);
  };
  return { thrown: () => thrown, restore: () => (proto[method] = original) };
}

describe('failing callees', () => {
  it('a member whose apply throws several times still gets every event once, in order; the others are not held back', { timeout: 60_000 }, async () => {
    const [alice, bob, carol] = [await serviceUser('alice'), await serviceUser('bob'), await serviceUser('carol')];
    const id = await createGroup(alice, [bob, carol], 'failing apply');
    for (const m of [bob, carol]) await env.USERS.getByName(m.user.id).readEvents(m.deviceId, 0);
    const fault = await failing(env.USERS.getByName(bob.user.id), 'apply', 3);
    try {
      const total = 40;
      for (let i = 0; i < total; i += 10) await Promise.all(range(i, i + 9).map((n) => sendUntilStored(alice, id, `cal${n}x${crypto.randomUUID().slice(0, 8)}`, `#${n}`)));
      const carolStarted = Date.now();
      const carolCounts = expectExactlyOnceInOrder(await readStream(carol, id, total, 10_000), range(1, total), 'carol');
      const carolMs = Date.now() - carolStarted;
      const bobCounts = expectExactlyOnceInOrder(await readStream(bob, id, total, 30_000), range(1, total), 'bob');
      expect(fault.thrown()).toBe(3);
      console.log(`[reliability] failing apply: bob's apply threw ${fault.thrown()} times; carol was not held back (${carolMs} ms); device streams: ${describeCounts([bobCounts, carolCounts], total)}`);
    } finally {
      fault.restore();
    }
  });

  it('a fan-out alarm that throws several times still delivers every event once, in order', { timeout: 60_000 }, async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const id = await createGroup(alice, [bob], 'failing alarm');
    await env.USERS.getByName(bob.user.id).readEvents(bob.deviceId, 0);
    // Bob's first deliveries fail, so what is left is the alarm's to retry; and the alarm fails too.
    const apply = await failing(env.USERS.getByName(bob.user.id), 'apply', 2);
    const alarm = await failing(env.CONVERSATIONS.getByName(id), 'alarm', 3);
    try {
      const total = 30;
      for (let i = 0; i < total; i += 10) await Promise.all(range(i, i + 9).map((n) => sendUntilStored(alice, id, `alm${n}x${crypto.randomUUID().slice(0, 8)}`, `#${n}`)));
      // The runtime retries an alarm that threw (with backoff, up to six times); the test
      // does the retries at once, as runDurableObjectAlarm drops an alarm that threw.
      const conversation = env.CONVERSATIONS.getByName(id);
      for (let attempt = 0; attempt < 6 && alarm.thrown() < 3; attempt++) {
        await runInDurableObject(conversation, (instance) => (instance as unknown as { alarm(): Promise<void> }).alarm()).catch(() => undefined);
      }
      const bobCounts = expectExactlyOnceInOrder(await readStream(bob, id, total, 40_000), range(1, total), 'bob');
      console.log(`[reliability] failing alarm: apply threw ${apply.thrown()} times, the alarm ${alarm.thrown()} times; device streams: ${describeCounts([bobCounts], total)}`);
      expect([apply.thrown(), alarm.thrown()]).toEqual([2, 3]);
    } finally {
      apply.restore();
      alarm.restore();
    }
  });
});
