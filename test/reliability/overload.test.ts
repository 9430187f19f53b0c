/**
 * Overload: three people (ordinary accounts, on the `new` tier: 20 messages a minute
 * each in one conversation) hammer one group at three times its limits (more at full size), while two others chat
 * at a steady pace in another conversation. Every refusal is a clean `rate_limited`
 * (429, `retryAfterMs`, `Retry-After`) and stores nothing; every accepted message
 * survives and is shown once, in order; the calm conversation's latency stays sane.
 */
import { afterAll, expect, it } from 'vitest';
import { describeVerdict } from './checker.js';
import { percentile, report } from './figures.js';
import { sleep, spawnFleet, type Device } from './fleet.js';
import type { PostAnswer } from './ipc.js';
import { readHistory } from './oracle.js';
import { rng, runSeed } from './prng.js';
import { openAll, personHandle, serviceHandle, settle, verdictOf, type RunConversation } from './scenario.js';
import { startServer, type Server } from './server.js';
import { SETTLE_TIMEOUT_MS, SIZES } from './sizes.js';

const PORT = 8837;
let server: Server | undefined;
let devices: Device[] = [];

afterAll(async () => {
  devices.forEach((d) => d.stop());
  await server?.stop();
});

/** Sends one message every `everyMs` from `device` for `ms`; returns the texts sent. */
async function pace(device: Device, c: string, label: string, ms: number, everyMs: number): Promise<string[]> {
  const texts: string[] = [];
  const until = Date.now() + ms;
  for (let i = 0; Date.now() < until; i++) {
    texts.push(`${label}-${i}`);
    await device.call({ op: 'send', c, texts: [`${label}-${i}`], gapMs: 0 });
    await sleep(everyMs);
  }
  return texts;
}

/** Ack latency (queued → acked) of `texts`, from the sender's observations. */
function ackLatencies(device: Device, c: string, texts: readonly string[]): number[] {
  const wanted = new Set(texts);
  const queued = new Map<string, number>();
  for (const o of device.observations) if (o.k === 'q' && o.c === c && wanted.has(o.text)) queued.set(o.cmid, o.at);
  return device.observations.flatMap((o) => (o.k === 'ack' && queued.has(o.cmid) ? [o.at - queued.get(o.cmid)!] : []));
}

it('overload: one conversation far past its limits refuses cleanly, keeps what it acked, and another keeps its latency', { timeout: 300_000 }, async () => {
  const started = Date.now();
  const seed = runSeed();
  console.log(`[reliability] overload seed ${seed} (replay: RELIABILITY_SEED=${seed})`);
  const random = rng(seed);
  server = await startServer(PORT);
  devices = await spawnFleet(
    [
      ...['h1', 'h2', 'h3'].map((name) => ({ name, wire: 'websocket' as const, handle: personHandle(name), register: true })),
      { name: 'calm-a', wire: 'sse', handle: serviceHandle('calma'), register: true },
      { name: 'calm-b', wire: 'websocket', handle: serviceHandle('calmb'), register: true },
    ],
    server.url,
  );
  const [h1, h2, h3, calmA, calmB] = devices as [Device, Device, Device, Device, Device];
  const hotId = await h1.call<string>({ op: 'createGroup', title: 'hot', memberIds: [h2.userId, h3.userId] });
  const calmId = await calmA.call<string>({ op: 'createDirect', peerId: calmB.userId });
  const hot: RunConversation = { id: hotId, name: 'hot', viewers: [h1, h2, h3], inboxReaders: [h1, h2, h3] };
  const calm: RunConversation = { id: calmId, name: 'calm', viewers: [calmA, calmB], inboxReaders: [calmA, calmB] };
  await openAll([hot, calm]);

  const baseline = await pace(calmA, calmId, 'baseline', 3_000, 100);
  const { attempts, otherMessages } = SIZES.overload;
  const hammer = async (device: Device) => {
    const answers: { cmid: string; answer: PostAnswer }[] = [];
    const per = Math.ceil(attempts / 3);
    for (let i = 0; i < per; i += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, per - i) }, async (_, j) => {
          const cmid = Array.from({ length: 32 }, () => random.int(0, 15).toString(16)).join('');
          const [answer] = await device.post(hotId, cmid, `hot-${device.name}-${i + j}`, 1, 1);
          answers.push({ cmid, answer: answer! });
        }),
      );
    }
    return answers;
  };
  const [during, ...hammered] = await Promise.all([pace(calmA, calmId, 'during', Math.max(3_000, otherMessages * 100), 100), hammer(h1), hammer(h2), hammer(h3)]);
  const answers = hammered.flat();

  await settle(server.url, [hot, calm], SETTLE_TIMEOUT_MS);
  const history = await readHistory(server.url, await h1.call<string>({ op: 'token' }), hotId);
  const storedCmids = new Map(history.flatMap((e) => (e.type === 'message' ? [[e.cmid, e.seq] as const] : [])));
  const accepted = answers.filter((a) => a.answer.status === 201);
  const refused = answers.filter((a) => a.answer.status === 429);
  const unclean = answers.filter((a) => a.answer.status !== 201 && !(a.answer.status === 429 && a.answer.code === 'rate_limited' && (a.answer.retryAfterMs ?? 0) > 0 && Number(a.answer.retryAfter) > 0));
  const acceptedLost = accepted.filter((a) => storedCmids.get(a.cmid) !== a.answer.seq);
  const refusedStored = refused.filter((a) => storedCmids.has(a.cmid));
  const verdict = await verdictOf(server.url, [hot, calm], devices);
  const before = ackLatencies(calmA, calmId, baseline);
  const under = ackLatencies(calmA, calmId, during);
  const latency = {
    baseline: { n: before.length, p50: percentile(before, 50), p95: percentile(before, 95) },
    duringOverload: { n: under.length, p50: percentile(under, 50), p95: percentile(under, 95) },
  };
  report(
    'overload',
    { seed, attempts: answers.length, accepted: accepted.length, refused: refused.length, unclean: unclean.length, acceptedLost: acceptedLost.length, refusedStored: refusedStored.length, latency, totals: verdict.totals, elapsedMs: Date.now() - started },
    [
      `seed ${seed}: ${answers.length} sends by 3 people on the new tier into one group: ${accepted.length} accepted, ${refused.length} refused rate_limited, ${unclean.length} other answers; accepted but not stored ${acceptedLost.length}, refused but stored ${refusedStored.length}`,
      `calm conversation ack latency (SSE sender): before p50 ${latency.baseline.p50} ms, p95 ${latency.baseline.p95} ms; during the overload p50 ${latency.duringOverload.p50} ms, p95 ${latency.duringOverload.p95} ms`,
      describeVerdict(verdict),
      `run ${Date.now() - started} ms`,
    ].join('\n'),
  );
  expect(unclean.map((a) => a.answer)).toEqual([]);
  expect(refused.length).toBeGreaterThan(answers.length / 2);
  expect({ acceptedLost: acceptedLost.length, refusedStored: refusedStored.length }).toEqual({ acceptedLost: 0, refusedStored: 0 });
  expect(verdict.problems).toEqual([]);
  expect(verdict.totals).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0, viewDiffers: 0, failed: 0 });
  expect(under.length).toBe(during.length);
  // "Sane": the calm conversation is not starved. Generous, for two shared cores: measured
  // p50 18 -> 48 ms and p95 40 -> 482 ms at CI size (RELIABILITY.md). A p95 of 2 s is half the SDK's
  // request timeout (FAST_TIMING, 4 s): past it, calm sends would start to be retried.
  expect(latency.duringOverload.p50).toBeLessThan(Math.max(1_000, 5 * latency.baseline.p50));
  expect(latency.duringOverload.p95).toBeLessThan(Math.max(2_000, 10 * latency.baseline.p95));
});
