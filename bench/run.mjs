/**
 * @module bench/run
 * `npm run bench [-- --quick]`: starts the service and the baseline under `wrangler dev`
 * (fresh state under bench/.state, D1 migrations applied), runs the load generator in its
 * own process, then prints the table, writes bench/results/latest.json and, for a full
 * run, the chart (docs/bench-latest.svg) and the table in docs/BENCHMARKS.md.
 *
 * `--quick` is a smoke run of every shape at small sizes (about a minute); it writes
 * bench/results/quick.json and leaves the docs alone.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { descendants, machine } from './proc.mjs';
import { buildReport, renderSvg, renderTable, rewriteBenchmarksDoc } from './report.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const STATE = join(ROOT, 'bench/.state');
const RESULTS = join(ROOT, 'bench/results');
const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');
const quick = process.argv.includes('--quick');
/** `--only=<prefix>[,<prefix>]`: run just the chat shapes (or `history`, `idle`) whose name starts so; for A/B runs, writes bench/results/only.json. */
/** `--rounds=N`: rounds per shape (default: 1 quick, 2 full); more rounds average out a noisy machine. */
const rounds = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length)) || null;
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',') ?? null;

/** Only these ports, only 127.0.0.1 (shared machine); BENCH_PORT_BASE moves both, for two benches side by side. */
const PORT_BASE = Number(process.env.BENCH_PORT_BASE) || 8800;
const SERVERS = {
  // The bench's accounts send far above what people may: they are `service` accounts
  // (see the trigger below), with that tier's message limit raised past any rate here.
  service: { port: PORT_BASE + 3, config: join(ROOT, 'wrangler.toml'), persist: join(STATE, 'service'), health: '/healthz', vars: ['--var', 'SERVICE_TIER_MESSAGES_PER_MINUTE:100000000'] },
  baseline: { port: PORT_BASE + 13, config: join(ROOT, 'bench/baseline/wrangler.toml'), persist: join(STATE, 'baseline'), health: '/sqlite/health/stats' },
};
const STARTUP_TIMEOUT_MS = 90_000;
const PRLIMIT = '/usr/bin/prlimit';
const OPEN_FILES = 65_536;
const canRaiseOpenFiles = (() => {
  try {
    execFileSync(PRLIMIT, [`--nofile=${OPEN_FILES}`, 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const LOAD_TIMEOUT_MS = quick ? 5 * 60_000 : 15 * 60_000;

const children = [];

function log(line) {
  process.stderr.write(`[bench] ${line}\n`);
}

// The local observability layer adds per-request work that is not the service's.
const ENV = { ...process.env, X_LOCAL_OBSERVABILITY: 'false', WRANGLER_SEND_METRICS: 'false' };

function wrangler(args) {
  execFileSync(WRANGLER, args, { cwd: ROOT, env: ENV, stdio: ['ignore', 'ignore', 'inherit'] });
}

function startServer(name) {
  const s = SERVERS[name];
  const args = ['dev', '-c', s.config, '--ip', '127.0.0.1', '--port', String(s.port), '--persist-to', s.persist, '--show-interactive-dev-session=false', '--log-level', 'error', ...(s.vars ?? [])];
  // A process group of its own, so stopping it stops its workerd children too. The proxy
  // workerd spends about four file descriptors per WebSocket, so 10,000 idle sockets need
  // more than the usual 20,000: the limit is raised for this process tree only, where
  // the system allows it (raising the hard limit needs CAP_SYS_RESOURCE).
  const [command, argv] = canRaiseOpenFiles ? [PRLIMIT, [`--nofile=${OPEN_FILES}`, WRANGLER, ...args]] : [WRANGLER, args];
  const child = spawn(command, argv, { cwd: ROOT, env: ENV, detached: true, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push({ child, group: true });
  return child;
}

async function waitHealthy(name, child) {
  const s = SERVERS[name];
  const until = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`${name}: wrangler dev exited with ${child.exitCode}`);
    try {
      const res = await fetch(`http://127.0.0.1:${s.port}${s.health}`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${name} did not start on port ${s.port} within ${STARTUP_TIMEOUT_MS / 1000} s`);
}

/**
 * wrangler dev runs two workerd processes: a proxy that owns the public port and
 * forwards to the runtime that runs the Worker and its objects. Both are sampled; the
 * runtime is the one that measures the code, the proxy is harness.
 */
function workerdPids(child, port) {
  const found = descendants(child.pid, 'workerd');
  const proxy = found.find((p) => p.args.some((a) => a.includes(`entry=127.0.0.1:${port}`)));
  const runtime = found.find((p) => p !== proxy);
  if (!runtime) throw new Error(`no workerd process found under wrangler (pid ${child.pid})`);
  return { runtime: runtime.pid, proxy: proxy?.pid ?? null };
}

function runLoad(configPath) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bench/load.mjs'), configPath], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    children.push({ child, group: false });
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

function stopAll() {
  for (const { child, group } of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(group ? -child.pid : child.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  }
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
  if (!existsSync(join(ROOT, 'dist/web'))) {
    log('building the web client (wrangler dev serves its assets)');
    execFileSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
  }
  log('applying D1 migrations to a fresh local database');
  wrangler(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', SERVERS.service.persist]);
  // In the bench's own fresh database only: every account it registers is a service account.
  wrangler(['d1', 'execute', 'DB', '--local', '--persist-to', SERVERS.service.persist, '--command',
    "CREATE TRIGGER bench_service_accounts AFTER INSERT ON users BEGIN UPDATE users SET trust = 'service' WHERE id = NEW.id; END"]);

  log(`starting the service (:${SERVERS.service.port}) and the baseline (:${SERVERS.baseline.port})`);
  // One after the other: two wrangler dev sessions starting at once race for the same
  // internal socket and one fails with "Address already in use".
  const service = startServer('service');
  await waitHealthy('service', service);
  const baseline = startServer('baseline');
  await waitHealthy('baseline', baseline);

  const configPath = join(STATE, 'load-config.json');
  const out = join(STATE, 'load-results.json');
  const config = {
    quick,
    only,
    rounds,
    openFilesRaised: canRaiseOpenFiles,
    out,
    service: { url: `http://127.0.0.1:${SERVERS.service.port}`, pids: workerdPids(service, SERVERS.service.port) },
    baseline: { url: `http://127.0.0.1:${SERVERS.baseline.port}`, pids: workerdPids(baseline, SERVERS.baseline.port) },
  };
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  await runLoad(configPath);

  const report = buildReport({
    startedAt: startedAt.toISOString(),
    quick,
    machine: host,
    versions: versions(),
    harness: 'wrangler dev (two workerd processes: proxy + runtime), X_LOCAL_OBSERVABILITY=false',
    load: JSON.parse(readFileSync(out, 'utf8')),
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
  stopAll();
  process.exit(130);
});

main()
  .catch((err) => {
    log(`failed: ${err.stack ?? err}`);
    process.exitCode = 1;
  })
  .finally(stopAll);
