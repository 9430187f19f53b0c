/**
 * @module bench/profile
 * A CPU profile of the Worker and its Durable Objects while something loads them: where
 * a message's cost goes, by function. Connects to the V8 inspector of a running
 * `wrangler dev --inspector-port <port>`, samples for a while, then prints the heaviest
 * functions by self and by inclusive time and writes the raw profile (open it in Chrome
 * DevTools, Performance tab) next to the results.
 *
 *   node bench/profile.mjs --port=9229 --ms=6000 [--out=bench/results/profile.cpuprofile]
 *
 * The inspector takes one client at a time: close DevTools (and any other profile run)
 * first, or the connection is refused ("Too many clients"). Start it a moment before the
 * load. Optimised code has no line positions, so a function's self time includes what
 * V8 inlined into it, and time in the runtime's own C++ (SQLite, sockets) shows as `exec`,
 * `send` and the like, or `(program)`.
 */
import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';

const arg = (name, fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const PORT = Number(arg('port', '9229'));
const DURATION_MS = Math.min(Number(arg('ms', '6000')), 120_000);
const OUT = arg('out', 'bench/results/profile.cpuprofile');
const SAMPLING_US = 200;
const TOP = 40;

async function inspectorUrl() {
  const targets = await (await fetch(`http://127.0.0.1:${PORT}/json`, { signal: AbortSignal.timeout(5_000) })).json();
  if (targets.length === 0) throw new Error(`no inspector target on port ${PORT}`);
  return targets[0].webSocketDebuggerUrl;
}

/**
 * Calls inspector methods. workerd's inspector echoes some calls back (Profiler.enable,
 * start) instead of answering them, so an echo counts as the answer, except where a
 * result is needed (`stop`): then only a reply with a result or an error does.
 */
function connect(url) {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
  const pending = new Map();
  let nextId = 0;
  ws.on('message', (data) => {
    const message = JSON.parse(String(data));
    const waiter = pending.get(message.id);
    if (!waiter || (waiter.needsResult && !message.result && !message.error)) return;
    pending.delete(message.id);
    waiter.resolve(message);
  });
  const opened = new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
    ws.on('close', (code, reason) => reject(new Error(`inspector closed the connection (${code} ${reason})`)));
  });
  const call = (method, params = {}, needsResult = false) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      const timer = setTimeout(() => reject(new Error(`${method}: no answer`)), 30_000);
      pending.set(id, {
        needsResult,
        resolve: (message) => {
          clearTimeout(timer);
          if (message.error) reject(new Error(`${method}: ${message.error.message}`));
          else resolve(message.result ?? {});
        },
      });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { opened, call, close: () => ws.close() };
}

function frameName(node) {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || '(anonymous)'} ${url ? `${url.split('/').at(-1)}:${lineNumber + 1}` : ''}`.trim();
}

/** Self and inclusive time per function name, in ms, from a V8 CPU profile. */
function summarise(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map();
  const inclusive = new Map();
  let total = 0;
  profile.samples.forEach((sample, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    total += ms;
    const name = frameName(byId.get(sample));
    self.set(name, (self.get(name) ?? 0) + ms);
    const seen = new Set();
    for (let id = sample; id !== undefined; id = parent.get(id)) {
      const frame = frameName(byId.get(id));
      if (seen.has(frame)) continue;
      seen.add(frame);
      inclusive.set(frame, (inclusive.get(frame) ?? 0) + ms);
    }
  });
  return { total, self, inclusive };
}

function table(title, entries, total) {
  const rows = [...entries].sort((a, b) => b[1] - a[1]).slice(0, TOP);
  return [`-- ${title}`, ...rows.map(([name, ms]) => `${ms.toFixed(1).padStart(9)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%  ${name}`)].join('\n');
}

async function main() {
  const inspector = connect(await inspectorUrl());
  await inspector.opened;
  await inspector.call('Profiler.enable');
  await inspector.call('Profiler.setSamplingInterval', { interval: SAMPLING_US });
  await inspector.call('Profiler.start');
  process.stderr.write(`[profile] sampling for ${DURATION_MS} ms\n`);
  await new Promise((resolve) => setTimeout(resolve, DURATION_MS));
  const { profile } = await inspector.call('Profiler.stop', {}, true);
  inspector.close();
  writeFileSync(OUT, JSON.stringify(profile));
  const { total, self, inclusive } = summarise(profile);
  process.stdout.write(`${total.toFixed(0)} ms sampled (idle included)\n${table('self', self, total)}\n${table('inclusive', inclusive, total)}\n`);
  process.stderr.write(`[profile] wrote ${OUT}\n`);
}

main().catch((err) => {
  process.stderr.write(`[profile] failed: ${err.message}\n`);
  process.exit(1);
});
