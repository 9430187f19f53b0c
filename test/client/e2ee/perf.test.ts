/**
 * Quick local figures for the report (skipped unless E2EE_BENCH=1):
 *   E2EE_BENCH=1 npx vitest run --project node test/client/e2ee/perf
 */
import { describe, it } from 'vitest';
import { generateDeviceKeys } from '../../../src/client/e2ee/index.js';
import { bundleOf, device, pair, text, type TestDevice } from './helpers.js';

const time = async (n: number, f: (i: number) => Promise<unknown>) => {
  const t = performance.now();
  for (let i = 0; i < n; i++) await f(i);
  return ((performance.now() - t) * 1000) / n;
};

describe.runIf(process.env.E2EE_BENCH)('e2ee figures', () => {
  it('prints per-operation times', async () => {
    const body = text('x'.repeat(200));
    const { alice, bob } = await pair();
    await time(200, async () => void (await bob.e2ee.decrypt(alice.address, 'message', (await alice.e2ee.encrypt(bob.address, body)).data)));
    const sameChain = await time(1000, async () => void (await bob.e2ee.decrypt(alice.address, 'message', (await alice.e2ee.encrypt(bob.address, body)).data)));
    const pingPong = await time(300, async (i) => {
      const [from, to] = i % 2 ? [alice, bob] : [bob, alice];
      const m = await from.e2ee.encrypt(to.address, body);
      await to.e2ee.decrypt(from.address, m.kind, m.data);
    });
    const keys = await time(5, async () => generateDeviceKeys({ preKeys: 100, kyberPreKeys: 100 }));
    const setups: (readonly [TestDevice, TestDevice])[] = [];
    for (let i = 0; i < 20; i++) setups.push([await device('a'), await device('b')] as const);
    const setup = await time(20, async (i) => {
      const [a, b] = setups[i]!;
      await a.e2ee.processPreKeyBundle(b.address, bundleOf(b));
      const m = await a.e2ee.encrypt(b.address, body);
      await b.e2ee.decrypt(a.address, m.kind, m.data);
    });
    const [c, d] = [await device('c'), await device('d')];
    await d.e2ee.processDistribution('g', c.address, await c.e2ee.createDistribution('g'));
    const group = await time(1000, async () => void (await d.e2ee.groupDecrypt('g', c.address, await c.e2ee.groupEncrypt('g', body))));
    console.log(
      JSON.stringify(
        {
          'pairwise encrypt+decrypt, same chain (µs/msg)': Math.round(sameChain),
          'pairwise encrypt+decrypt, alternating (DH ratchet step each) (µs/msg)': Math.round(pingPong),
          'PQXDH set-up: bundle → first prekey message decrypted (µs)': Math.round(setup),
          'sender key encrypt+decrypt (µs/msg)': Math.round(group),
          'device keys with 100+100 one-time prekeys (µs)': Math.round(keys),
        },
        null,
        2,
      ),
    );
  }, 300_000);
});
