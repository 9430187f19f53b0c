/**
 * @module bench/run
 * `npm run bench [-- --quick]`: starts the service and the baseline on workerd (directly,
 * or under `wrangler dev` with `--harness=wrangler`: bench/harness.mjs), with fresh state
 * under bench/.state (D1 migrations applied), runs the load generator in its
 * own process, then prints the table, writes bench/results/latest.json and, for a full
 * run, the chart (docs/bench-latest.svg) and the table in docs/BENCHMARKS.md.
 *
 * `--quick` is a smoke run of every shape at small sizes (about a minute); it writes
 * bench/results/quick.json and leaves the docs alone.
 *
 * Before any server starts, the SDK's crypto micro-benchmark (bench/e2ee-crypto.mjs) runs
 * in a process of its own, on a machine not yet busy with the runtime; `--only=e2ee-crypto`
 * runs it alone, without servers.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHarness } from './harness.mjs';
import { machine } from './proc.mjs';
import { buildReport, renderSvg, renderTable, rewriteBenchmarksDoc } from './report.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const STATE = join(ROOT, 'bench/.state');
const RESULTS = join(ROOT, 'bench/results');
const quick = process.argv.includes('--quick');
/** `--only=<prefix>[,<prefix>]`: run just the chat shapes (or `history`, `idle`) whose name starts so; for A/B runs, writes bench/results/only.json. */
/** `--rounds=N`: rounds per shape (default: 1 quick, 2 full); more rounds average out a noisy machine. */
const rounds = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length)) || null;
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',') ?? null;
/** The crypto micro-benchmark is a "shape" for `--only` too; when it is all `--only` names, no server starts. */
const CRYPTO_SHAPE = 'e2ee-crypto';
const cryptoSelected = !only || only.some((prefix) => CRYPTO_SHAPE.startsWith(prefix));
const cryptoOnly = only !== null && only.every((prefix) => prefix.length > 'e2ee-'.length && CRYPTO_SHAPE.startsWith(prefix));

/** `--harness=direct|miniflare|wrangler`: how the Worker runs on workerd (bench/harness.mjs); direct by default. */
const harnessKind = process.argv.find((a) => a.startsWith('--harness='))?.slice('--harness='.length) ?? 'direct';

/** `--inspect=<port>`: the service's V8 inspector on this port, for bench/profile.mjs during the run (direct and miniflare harnesses). */
const inspectorPort = Number(process.argv.find((a) => a.startsWith('--inspect='))?.slice('--inspect='.length)) || undefined;

/** Only these ports, only 127.0.0.1 (shared machine); BENCH_PORT_BASE moves both, for two benches side by side (BENCH_BASELINE_PORT moves the baseline alone). */
const PORT_BASE = Number(process.env.BENCH_PORT_BASE) || 8800;
/**
 * The channel shape's relayed group has 102 members (bench/shapes/channel.mjs); every
 * other room has at most 101, so its windows stay on the conversation. 1,000 sockets a
 * relay puts 1,000 readers on two relays (with the poster) and 5,000 on six.
 */
const RELAY_VARS = { RELAY_MIN_MEMBERS: '102', RELAY_MAX_SOCKETS: '1000' };
const SERVERS = {
  // The bench's accounts send far above what people may: they are `service` accounts
  // (see the trigger below), with that tier's message limit raised past any rate here.
  service: { name: 'service', port: PORT_BASE + 3, config: join(ROOT, 'wrangler.toml'), persist: join(STATE, 'service'), bundleDir: join(STATE, 'service-bundle'), health: '/healthz', vars: { SERVICE_TIER_MESSAGES_PER_MINUTE: '100000000', ...RELAY_VARS }, inspectorPort },
  baseline: { name: 'baseline', port: Number(process.env.BENCH_BASELINE_PORT) || PORT_BASE + 13, config: join(ROOT, 'bench/baseline/wrangler.toml'), persist: join(STATE, 'baseline'), bundleDir: join(STATE, 'baseline-bundle'), health: '/sqlite/health/stats' },
};
/**
 * The target is 10,000 idle sockets on one object, bounded here by the open-files
 * limit the workerd processes inherit (hard limit 20,000 in the container the bench was
 * built in, which cannot raise it). Every connection workerd accepts costs it two file
 * descriptors (its HTTP listener keeps a dup of the socket; past the limit it fails with
 * "dup(): Too many open files" and, on accept(), the runtime exits), and wrangler dev's
 * proxy costs about four. The shape opens as many as fit under the limit, less headroom
 * for the runtime's own files (storage, pipes), up to 10,000.
 */
const IDLE_TARGET = 10_000;
const IDLE_FD_HEADROOM = 400;
function idleSockets() {
  const limit = Number(readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+(\d+)/m)?.[1]);
  if (!Number.isFinite(limit)) return IDLE_TARGET;
  return Math.min(IDLE_TARGET, Math.floor((limit - IDLE_FD_HEADROOM) / harness.fdsPerSocket / 100) * 100);
}
const LOAD_TIMEOUT_MS = quick ? 5 * 60_000 : 15 * 60_000;

const children = [];

function log(line) {
  process.stderr.write(`[bench] ${line}\n`);
}

// The local observability layer adds per-request work that is not the service's.
const ENV = { ...process.env, X_LOCAL_OBSERVABILITY: 'false', WRANGLER_SEND_METRICS: 'false' };
const harness = createHarness(harnessKind, { root: ROOT, env: ENV });

/** bench/e2ee-crypto.mjs in its own process (its table goes to the report, not to stdout); resolves to its results. */
function runCrypto() {
  const out = join(STATE, 'e2ee-crypto.json');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bench/e2ee-crypto.mjs'), `--json=${out}`, ...(quick ? ['--quick'] : [])], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(child);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(readFileSync(out, 'utf8'))) : reject(new Error(`e2ee-crypto exited with ${code}`))));
  });
}

/** What the load generator writes when no server shape ran (`--only=e2ee-crypto`). */
const NO_LOAD = { plan: null, loadSeconds: 0, chat: [], history: [], streams: [], streamRounds: [], inbox: [], inboxRounds: [], channel: [], e2ee: [], idle: [] };

function runLoad(configPath) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bench/load.mjs'), configPath], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(child);
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`load generator exceeded ${LOAD_TIMEOUT_MS / 1000} s`));
    }, LOAD_TIMEOUT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`load generator exited with ${code}`));
    });
  });
}

async function stopAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
  await harness.stopAll();
}

function versions() {
  const pkg = (name) => JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  // wrangler runs its own copy of workerd when it pins a different one.
  const workerd = existsSync(join(ROOT, 'node_modules/wrangler/node_modules/workerd')) ? pkg('wrangler/node_modules/workerd') : pkg('workerd');
  return { node: process.version, wrangler: pkg('wrangler'), workerd };
}

async function main() {
  const startedAt = new Date();
  const host = machine();
  rmSync(STATE, { recursive: true, force: true });
  mkdirSync(STATE, { recursive: true });
  mkdirSync(RESULTS, { recursive: true });
  const e2eeCrypto = cryptoSelected ? await runCrypto() : null;
  if (cryptoOnly) return writeResults({ startedAt, host, e2eeCrypto, load: NO_LOAD });
  if (!existsSync(join(ROOT, 'dist/web'))) {
    log('building the web client (wrangler dev serves its assets)');
    execFileSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
  }
  log('applying D1 migrations to a fresh local database');
  harness.wrangler(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', SERVERS.service.persist]);
  // In the bench's own fresh database only: every account it registers is a service account.
  harness.wrangler(['d1', 'execute', 'DB', '--local', '--persist-to', SERVERS.service.persist, '--command',
    "CREATE TRIGGER bench_service_accounts AFTER INSERT ON users BEGIN UPDATE users SET trust = 'service' WHERE id = NEW.id; END"]);

  log(`starting the service (:${SERVERS.service.port}) and the baseline (:${SERVERS.baseline.port}) on ${harness.description}`);
  // One after the other: two wrangler dev sessions starting at once race for the same
  // internal socket and one fails with "Address already in use".
  const { url: serviceUrl, ...servicePids } = await harness.start(SERVERS.service);
  const { url: baselineUrl, ...baselinePids } = await harness.start(SERVERS.baseline);

  const configPath = join(STATE, 'load-config.json');
  const out = join(STATE, 'load-results.json');
  const config = {
    quick,
    only,
    rounds,
    idleSockets: idleSockets(),
    out,
    service: { url: serviceUrl, pids: servicePids },
    baseline: { url: baselineUrl, pids: baselinePids },
  };
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  await runLoad(configPath);
  writeResults({ startedAt, host, e2eeCrypto, load: JSON.parse(readFileSync(out, 'utf8')) });
}

function writeResults({ startedAt, host, e2eeCrypto, load }) {
  const report = buildReport({
    startedAt: startedAt.toISOString(),
    quick,
    machine: host,
    versions: versions(),
    harness: cryptoOnly ? 'none (Node only)' : harness.description,
    e2eeCrypto,
    load,
  });
  const resultFile = join(RESULTS, only ? 'only.json' : quick ? 'quick.json' : 'latest.json');
  writeFileSync(resultFile, JSON.stringify(report, null, 2));
  process.stdout.write(`${renderTable(report)}\n`);
  log(`wrote ${resultFile}`);
  if (!quick && !only) {
    writeFileSync(join(ROOT, 'docs/bench-latest.svg'), renderSvg(report));
    rewriteBenchmarksDoc(join(ROOT, 'docs/BENCHMARKS.md'), report);
    log('wrote docs/bench-latest.svg and the table in docs/BENCHMARKS.md');
  }
}

process.on('SIGINT', () => {
  stopAll().finally(() => process.exit(130));
});

main()
  .catch((err) => {
    log(`failed: ${err.stack ?? err}`);
    process.exitCode = 1;
  })
  .finally(stopAll);
