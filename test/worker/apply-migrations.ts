/**
 * Setup for every workerd test file: D1 migrations before it, and after it, its Durable
 * Objects drained, so none of them is woken while vitest tears the file's runner down.
 */
import { afterAll } from 'vitest';
import { abortAllDurableObjects, applyD1Migrations, evictAllDurableObjects, listDurableObjectIds, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';

// Setup files run before each test file; applying is idempotent (applied ones are recorded).
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS ?? []);

/**
 * Every call into a Durable Object first imports the worker through vitest's module runner
 * (an RPC to vitest), so an object still working, or woken by an alarm, when the file
 * ends has that RPC cut under it: vitest reports an EnvironmentTeardownError. Each file has
 * its own runtime, so the objects listed are this file's. In order: abort them all, which
 * ends their work in flight at once (an eviction would wait for it: a held poll or an SSE
 * read whose reader left holds its object until its hold or next heartbeat, up to 15 s of
 * every such file) and drops their sockets; delete every alarm they set, so none fires
 * during the teardown (waking an object to do so is itself an import, made now while the
 * runner is alive); evict, with sockets closed, so no close handler runs later.
 *
 * vitest.config.ts forgives no unhandled error, so a teardown error fails the run. What
 * this drain cannot reach is a push-queue batch still in flight (or a retry of one) that
 * wakes the worker after the file ends: if the error comes back, look there first.
 */
afterAll(async () => {
  await abortAllDurableObjects();
  const unreachable = (await Promise.all([alarmsOff(env.CONVERSATIONS), alarmsOff(env.USERS), alarmsOff(env.LIMITERS)])).flat();
  await evictAllDurableObjects({ webSockets: 'close' });
  if (unreachable.length > 0) console.warn(`drain: ${unreachable.length} object(s) could not be reached to delete their alarm`, unreachable.slice(0, 3));
}, 60_000);

/** Deletes the alarm of every object of `namespace`, 16 at a time; returns the objects that could not be reached. */
async function alarmsOff<T extends Rpc.DurableObjectBranded | undefined>(namespace: DurableObjectNamespace<T>): Promise<string[]> {
  const ids = await listDurableObjectIds(namespace);
  const unreachable: string[] = [];
  for (let i = 0; i < ids.length; i += 16) {
    await Promise.all(
      ids.slice(i, i + 16).map((id) =>
        runInDurableObject(namespace.get(id), (_instance, state) => state.storage.deleteAlarm()).catch((err: unknown) => {
          unreachable.push(`${id.toString()}: ${String(err)}`);
        }),
      ),
    );
  }
  return unreachable;
}
