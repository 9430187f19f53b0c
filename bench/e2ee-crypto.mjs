/**
 * @module bench/e2ee-crypto
 * The SDK's end-to-end encryption per message, in Node (issue 17's benchmark): µs to
 * encrypt and decrypt one message with
 *
 * - a pairwise session after set-up (Double Ratchet): one direction (a chain step per
 *   message), and alternating directions (a DH ratchet step per message);
 * - a Sender Key group message (signed by the sender, verified by the reader);
 * - a PQXDH session set-up: the bundle checked and processed, the first (prekey) message
 *   encrypted, and decrypted by the responder (ML-KEM-1024 and X25519 on both sides);
 * - the whole SDK envelope (`Messenger`: payload, padding, seal, one entry per device) of
 *   a direct conversation with 2, 4 and 10 recipient devices, and of a group of 10 with
 *   one device each, in the steady state (sessions answered, the sender key already
 *   distributed): the sender's encrypt, and one recipient device's decrypt;
 *
 * next to the cost floor of encrypting a message at all, measured in the same process
 * and run: AES-256-GCM encrypt + decrypt of the same padded payload with WebCrypto (and,
 * for reference, with @noble/ciphers, the AES-GCM the pairwise envelope's body uses).
 *
 * Everything goes through the SDK's public calls with its in-memory store (each call
 * loads, copies and stores the session as JSON, as with any store), so the figures are
 * what an app pays, not the primitives alone. A run times every case once, in turn
 * (reversed every other run). The figure is the process's CPU time (user + system, all
 * threads: WebCrypto works on libuv's pool) per message, not wall time: on a shared
 * machine a descheduled process counts wall time but no CPU. Each is the median over the
 * runs of the mean per message within a run; encrypt and decrypt split the median run's
 * CPU by their shares of its wall time; `spread` is the lowest and highest run; `wall`
 * the median wall time per message, for comparison.
 *
 *   node bench/e2ee-crypto.mjs [--quick] [--json=<file>]
 *
 * `npm run bench` runs it before it starts any server (`--only=e2ee-crypto` runs only
 * this); the results join the report (bench/report.mjs).
 */
import { writeFileSync } from 'node:fs';
import { benchDevice, claimBundle, loadSdk, SHORT_TEXT, steadyConversation } from './e2ee-sdk.mjs';
import { round } from './util.mjs';

/** Runs and operations per run (runs odd: the median is a run); a quick run is a smoke test of the same cases. */
const PLANS = {
  full: { runs: 7, ops: { floor: 2_000, ratchet: 300, senderKey: 200, setup: 12, envelope: 100 } },
  quick: { runs: 3, ops: { floor: 500, ratchet: 60, senderKey: 40, setup: 3, envelope: 20 } },
};

const CONVERSATION = 'c_bench_e2ee';

/**
 * Each case: `prepare()` (untimed) returns `op()`, one message; `op` returns the µs its
 * encrypt and decrypt took (timed around the SDK calls only).
 */
async function cases(sdk, plan) {
  const payload = sdk.encodePayload(CONVERSATION, { type: 'text', text: SHORT_TEXT });
  const timed = async (fn) => {
    const t0 = performance.now();
    const value = await fn();
    return [value, (performance.now() - t0) * 1000];
  };

  async function pair() {
    const alice = await benchDevice(sdk, { userId: 'alice', deviceId: 'a1' });
    const bob = await benchDevice(sdk, { userId: 'bob', deviceId: 'b1' });
    await alice.e2ee.processPreKeyBundle(bob.address, claimBundle(bob));
    const first = await alice.e2ee.encrypt(bob.address, payload);
    await bob.e2ee.decrypt(alice.address, first.kind, first.data);
    const reply = await bob.e2ee.encrypt(alice.address, payload);
    await alice.e2ee.decrypt(bob.address, reply.kind, reply.data);
    return { alice, bob };
  }
  const message = (from, to) => async () => {
    const [m, enc] = await timed(() => from.e2ee.encrypt(to.address, payload));
    const [, dec] = await timed(() => to.e2ee.decrypt(from.address, m.kind, m.data));
    return { enc, dec, bytes: m.data.length };
  };

  return [
    {
      name: 'AES-256-GCM, WebCrypto (floor)',
      key: 'floor',
      ops: plan.ops.floor,
      async prepare() {
        const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
        const ad = new TextEncoder().encode(CONVERSATION);
        return async () => {
          const iv = crypto.getRandomValues(new Uint8Array(12));
          const [sealed, enc] = await timed(() => crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: ad }, key, payload));
          const [, dec] = await timed(() => crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: ad }, key, sealed));
          return { enc, dec, bytes: 12 + sealed.byteLength };
        };
      },
    },
    {
      // For reference: the AES-GCM the pairwise envelope seals its body with (synchronous, in JavaScript).
      name: 'AES-256-GCM, @noble/ciphers',
      key: 'noble-gcm',
      ops: plan.ops.floor,
      async prepare() {
        const key = crypto.getRandomValues(new Uint8Array(32));
        const ad = new TextEncoder().encode(CONVERSATION);
        return async () => {
          const nonce = crypto.getRandomValues(new Uint8Array(12));
          const [sealed, enc] = await timed(() => sdk.gcm(key, nonce, ad).encrypt(payload));
          const [, dec] = await timed(() => sdk.gcm(key, nonce, ad).decrypt(sealed));
          return { enc, dec, bytes: 12 + sealed.length };
        };
      },
    },
    {
      name: 'Double Ratchet, one direction',
      key: 'ratchet',
      ops: plan.ops.ratchet,
      async prepare() {
        const { alice, bob } = await pair();
        return message(alice, bob);
      },
    },
    {
      name: 'Double Ratchet, alternating directions',
      key: 'ratchet-alternating',
      ops: plan.ops.ratchet,
      async prepare() {
        const { alice, bob } = await pair();
        const there = message(alice, bob);
        const back = message(bob, alice);
        let k = 0;
        return () => (k++ % 2 === 0 ? there() : back());
      },
    },
    {
      name: 'Sender Key group message',
      key: 'sender-key',
      ops: plan.ops.senderKey,
      async prepare() {
        const alice = await benchDevice(sdk, { userId: 'alice', deviceId: 'a1' });
        const bob = await benchDevice(sdk, { userId: 'bob', deviceId: 'b1' });
        await bob.e2ee.processDistribution(CONVERSATION, alice.address, await alice.e2ee.createDistribution(CONVERSATION));
        return async () => {
          const [data, enc] = await timed(() => alice.e2ee.groupEncrypt(CONVERSATION, payload));
          const [, dec] = await timed(() => bob.e2ee.groupDecrypt(CONVERSATION, alice.address, data));
          return { enc, dec, bytes: data.length };
        };
      },
    },
    {
      name: 'PQXDH set-up + first message',
      key: 'pqxdh',
      ops: plan.ops.setup,
      // Every set-up takes a fresh one-time prekey of each kind, as a claim does.
      async prepare(count) {
        const alice = await benchDevice(sdk, { userId: 'alice', deviceId: 'a1' }, { preKeys: 0, kyberPreKeys: 0 });
        const bob = await benchDevice(sdk, { userId: 'bob', deviceId: 'b1' }, { preKeys: count, kyberPreKeys: count });
        let k = 0;
        return async () => {
          // A new pair of addresses each time: a new session, not another state in a growing record.
          const n = k++;
          const to = { userId: 'bob', deviceId: `b${n}` };
          const from = { userId: 'alice', deviceId: `a${n}` };
          const bundle = claimBundle(bob);
          const [m, enc] = await timed(async () => {
            await alice.e2ee.processPreKeyBundle(to, bundle);
            return alice.e2ee.encrypt(to, payload);
          });
          if (m.kind !== 'prekey') throw new Error('expected a prekey message');
          const [, dec] = await timed(() => bob.e2ee.decrypt(from, m.kind, m.data));
          return { enc, dec, bytes: m.data.length };
        };
      },
    },
    ...[2, 4, 10].map((n) => ({
      name: `envelope, direct, ${n} recipient devices`,
      key: `envelope-direct-${n}`,
      ops: plan.ops.envelope,
      async prepare() {
        const conversation = await steadyConversation(sdk, {
          id: `${CONVERSATION}_d${n}`,
          kind: 'direct',
          members: [
            { userId: 'alice', deviceIds: ['a1'] },
            { userId: 'bob', deviceIds: Array.from({ length: n }, (_, i) => `b${i + 1}`) },
          ],
        });
        return envelopeOp(conversation);
      },
    })),
    {
      name: 'envelope, group of 10, sender key',
      key: 'envelope-group-10',
      ops: plan.ops.envelope,
      async prepare() {
        const conversation = await steadyConversation(sdk, {
          id: `${CONVERSATION}_g10`,
          kind: 'group',
          members: Array.from({ length: 10 }, (_, i) => ({ userId: `u${i}`, deviceIds: ['d1'] })),
        });
        return envelopeOp(conversation);
      },
    },
  ];

  function envelopeOp(conversation) {
    const reader = conversation.recipients[0];
    return async () => {
      const [envelope, enc] = await timed(() => conversation.send());
      // What the server hands one device: the body and its own entry.
      const own = { ...envelope, entries: envelope.entries.filter((e) => e.userId === reader.address.userId && e.deviceId === reader.address.deviceId) };
      const [content, dec] = await timed(() => conversation.open(reader, own));
      if (content?.text !== SHORT_TEXT) throw new Error('the envelope did not open to the text sent');
      return { enc, dec, bytes: JSON.stringify(envelope).length, entries: envelope.entries.length };
    };
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Runs every case; returns one row per case, the floor first. */
export async function runE2eeCrypto({ quick = false, log = () => {} } = {}) {
  const plan = quick ? PLANS.quick : PLANS.full;
  const sdk = await loadSdk();
  const list = await cases(sdk, plan);
  const t0 = performance.now();
  // Warm-up: every case once, a few operations (the JIT, lazy tables in the libraries).
  const ops = new Map();
  for (const c of list) {
    const warm = await c.prepare(Math.min(c.ops, 3));
    for (let i = 0; i < Math.min(c.ops, 3); i++) await warm();
    ops.set(c.key, await c.prepare(c.ops * plan.runs));
  }
  log(`e2ee-crypto: set up in ${round((performance.now() - t0) / 1000)} s`);
  const runs = new Map(list.map((c) => [c.key, []]));
  for (let r = 0; r < plan.runs; r++) {
    for (const c of r % 2 === 0 ? list : [...list].reverse()) {
      const op = ops.get(c.key);
      let enc = 0;
      let dec = 0;
      let last;
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < c.ops; i++) {
        last = await op();
        enc += last.enc;
        dec += last.dec;
      }
      const cpu = process.cpuUsage(cpu0);
      const cpuUs = (cpu.user + cpu.system) / c.ops;
      const wallUs = (enc + dec) / c.ops;
      // The process's CPU time, split between encrypt and decrypt by their shares of the wall time.
      runs.get(c.key).push({ total: cpuUs, enc: (cpuUs * enc) / (enc + dec), dec: (cpuUs * dec) / (enc + dec), wall: wallUs, bytes: last.bytes, entries: last.entries });
    }
  }
  const floor = median(runs.get('floor').map((x) => x.total));
  const rows = list.map((c) => {
    const rs = runs.get(c.key);
    // The median run by its total (the runs are odd in number), so its split adds up.
    const mid = [...rs].sort((a, b) => a.total - b.total)[rs.length >> 1];
    const total = median(rs.map((x) => x.total));
    return {
      case: c.name,
      key: c.key,
      encryptUs: round(mid.enc, 1),
      decryptUs: round(mid.dec, 1),
      totalUs: round(total, 1),
      spreadUs: [round(Math.min(...rs.map((x) => x.total)), 1), round(Math.max(...rs.map((x) => x.total)), 1)],
      wallUs: round(median(rs.map((x) => x.wall)), 1),
      vsFloor: round(total / floor, 1),
      bytes: rs[0].bytes,
      entries: rs[0].entries ?? null,
      opsPerRun: c.ops,
      runs: rs.length,
    };
  });
  log(`e2ee-crypto: measured in ${round((performance.now() - t0) / 1000)} s`);
  return { payloadBytes: sdk.encodePayload(CONVERSATION, { type: 'text', text: SHORT_TEXT }).length, runs: plan.runs, rows };
}

export const E2EE_CRYPTO_HEAD = ['case', 'encrypt µs', 'decrypt µs', 'encrypt + decrypt µs', 'spread over runs µs', '× floor', 'wall µs', 'wire bytes'];
export const e2eeCryptoRows = (result) =>
  (result?.rows ?? []).map((r) => [r.case, r.encryptUs, r.decryptUs, r.totalUs, `${r.spreadUs[0]}–${r.spreadUs[1]}`, r.key === 'floor' ? '1' : r.vsFloor, r.wallUs, r.entries === null ? r.bytes : `${r.bytes} (${r.entries} entries)`]);

// ── As a script ──────────────────────────────────────────────────────────────────

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const out = process.argv.find((a) => a.startsWith('--json='))?.slice('--json='.length);
  const log = (line) => process.stderr.write(`[bench] ${line}\n`);
  const { loadavg } = await import('node:os');
  log(`e2ee-crypto: load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const result = await runE2eeCrypto({ quick, log });
  result.loadAverage = loadavg().map((x) => round(x, 2));
  if (out) writeFileSync(out, JSON.stringify(result, null, 2));
  const rows = e2eeCryptoRows(result);
  const all = [E2EE_CRYPTO_HEAD, ...rows].map((row) => row.map(String));
  const widths = E2EE_CRYPTO_HEAD.map((_, i) => Math.max(...all.map((row) => row[i].length)));
  process.stdout.write(`${all.map((row) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ')).join('\n')}\n`);
  log(`e2ee-crypto: payload ${result.payloadBytes} bytes (a short text, padded), median of ${result.runs} runs; load average after ${result.loadAverage.join(' ')}`);
}
