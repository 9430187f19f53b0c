/**
 * Chaos: two users with two devices each in a direct conversation, and a group of five,
 * every device in a process of its own and on a mix of wires (WebSocket, SSE, long
 * polling), sending in bursts from several senders while the fault proxy cuts
 * connections (all or some, half of the cuts mid-frame), stalls a direction, adds
 * latency and drops connections without a close; meanwhile devices edit and delete
 * their messages and react to others' (and take reactions back). Then: nothing acked is lost, nothing
 * is shown twice or out of order, every device's view equals the server's history, and
 * how long each wire took to recover once the faults stopped.
 *
 * CI size: 600 messages, 12 cuts (and 12 other faults). `npm run test:reliability:full`:
 * 5,000 messages, 50 cuts.
 * `npm run soak -- --minutes N`: full size, over and over, for N minutes.
 */
import { afterAll, expect, it } from 'vitest';
import { describeVerdict } from './checker.js';
import { describeFaults, injectFaults, startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { describeRecovery, recoveryByWire, recoveryOf, report } from './figures.js';
import { spawnFleet, type Device } from './fleet.js';
import { rng, runSeed } from './prng.js';
import { describeMutations, mutateDuring, openAll, sendBursts, serviceHandle, settle, verdictOf, type RunConversation } from './scenario.js';
import { startServer, type Server } from './server.js';
import { SETTLE_TIMEOUT_MS, SIZES, SOAK_MINUTES } from './sizes.js';

const PORT = 8831;
let server: Server | undefined;
let proxy: FaultProxy | undefined;
let devices: Device[] = [];

afterAll(async () => {
  devices.forEach((d) => d.stop());
  await proxy?.close();
  await server?.stop();
});

it('chaos: bursts from several senders through cuts, stalls and drops lose nothing, double nothing, keep order', { timeout: (SOAK_MINUTES + 10) * 60_000 }, async () => {
  const started = Date.now();
  const seed = runSeed();
  console.log(`[reliability] chaos seed ${seed} (replay: RELIABILITY_SEED=${seed})`);
  const random = rng(seed);
  server = await startServer(PORT);
  proxy = await startFaultProxy(PORT, random.fork());
  const [alice, bob, carol, dave, erin] = ['alice', 'bob', 'carol', 'dave', 'erin'].map(serviceHandle) as [string, string, string, string, string];
  devices = await spawnFleet(
    [
      { name: 'alice-1', wire: 'websocket', handle: alice, register: true },
      { name: 'alice-2', wire: 'sse', handle: alice, register: false },
      { name: 'bob-1', wire: 'websocket', handle: bob, register: true },
      { name: 'bob-2', wire: 'long-poll', handle: bob, register: false },
      { name: 'carol', wire: 'websocket', handle: carol, register: true },
      { name: 'dave', wire: 'sse', handle: dave, register: true },
      { name: 'erin', wire: 'long-poll', handle: erin, register: true },
    ],
    proxy.url,
  );
  const [alice1, alice2, bob1, bob2, carolD, daveD, erinD] = devices as [Device, Device, Device, Device, Device, Device, Device];
  const directId = await alice1.call<string>({ op: 'createDirect', peerId: bob1.userId });
  const direct: RunConversation = { id: directId, name: 'direct', viewers: [alice1, alice2, bob1, bob2], inboxReaders: [alice1, alice2, bob1, bob2] };
  const conversations: RunConversation[] = [direct];
  const soakUntil = started + SOAK_MINUTES * 60_000;

  for (let round = 0; ; round++) {
    const groupId = await alice1.call<string>({ op: 'createGroup', title: `chaos ${round}`, memberIds: [bob1, carolD, daveD, erinD].map((d) => d.userId) });
    const group: RunConversation = { id: groupId, name: `group-${round}`, viewers: devices, inboxReaders: devices };
    conversations.push(group);
    await openAll(round === 0 ? [direct, group] : [group]);

    const { messages, cuts, gapMs } = SIZES.chaos;
    // As many other faults as cuts, alternately: the sends span them all.
    const span = cuts * (gapMs[0] + gapMs[1]);
    const senders = [
      ...[alice1, alice2, bob1, bob2].map((device) => ({ device, c: direct.id })),
      ...devices.map((device) => ({ device, c: group.id })),
    ];
    const runStarted = Date.now();
    const faults = injectFaults(proxy, random.fork(), { cuts, gapMs });
    const sending = sendBursts(senders, messages, span, random, `r${round}`);
    // Edits, deletes and reactions go on under the same faults, as long as they last.
    const mutated = mutateDuring([direct, group], Promise.all([sending, faults.done]), random.fork());
    const sent = await sending;
    const mutations = await mutated;
    const injected = await faults.done;
    proxy.heal();
    const t0 = Date.now();
    const heads = await settle(server.url, conversations, SETTLE_TIMEOUT_MS);
    const verdict = await verdictOf(server.url, conversations, devices);
    const recoveries = devices.map((d) => recoveryOf(d, t0, heads));
    const byWire = recoveryByWire(recoveries);
    const elapsed = Date.now() - runStarted;
    report(
      `chaos${SOAK_MINUTES > 0 ? `-soak-${round}` : ''}`,
      { seed, round, sent, mutations, faults: injected, proxy: proxy.stats, totals: verdict.totals, conversations: verdict.conversations, devices: verdict.devices, recovery: byWire, elapsedMs: elapsed },
      [
        `seed ${seed}, round ${round}: ${sent} messages queued by ${devices.length} devices in ${conversations.length} conversations, ${injected.length} faults (${describeFaults(injected)}), ${proxy.stats.accepted} connections proxied, ${proxy.stats.midFrameCut} cut mid-frame`,
        `meanwhile ${describeMutations(mutations)}`,
        describeVerdict(verdict),
        `recovery after the faults stopped: ${describeRecovery(byWire)}`,
        `run ${elapsed} ms (total ${Date.now() - started} ms)`,
      ].join('\n'),
    );
    expect(verdict.problems).toEqual([]);
    expect(verdict.totals).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0, viewDiffers: 0, failed: 0 });
    expect(verdict.totals.acked).toBe(verdict.conversations.reduce((n, c) => n + c.queued, 0));
    if (Date.now() >= soakUntil) break;
  }
});
