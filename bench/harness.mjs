/**
 * @module bench/harness
 * How the bench runs a Worker on workerd, two ways, so a reader can compare them:
 *
 * - `direct` (default): the Worker bundled as for deploy (`wrangler deploy --dry-run`)
 *   and run by Miniflare, the library `wrangler dev` itself runs it with, with the options
 *   wrangler derives from the same wrangler.toml (`unstable_getMiniflareWorkerOptions`).
 *   One workerd process runs the Worker and its objects, and serves the Worker on a
 *   socket of its own, as the edge serves a deployed Worker: no JavaScript in front (not
 *   the local static-assets router either).
 * - `miniflare`: the same, but requests reach the Worker through Miniflare's entry
 *   worker (a script in front of the Worker that rewrites every request, as under
 *   `wrangler dev`); the load uses the port Miniflare owns.
 * - `wrangler`: `wrangler dev`, which puts a second workerd in front of that one: a proxy
 *   that owns the port and forwards every request and WebSocket to the runtime.
 *
 * Both start from the same persist directory (D1 migrations applied there first), so the
 * same code meets the same state; only the hop in front differs.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { descendants } from './proc.mjs';

const STARTUP_TIMEOUT_MS = 90_000;

export const HARNESSES = {
  direct: 'workerd directly (Miniflare, one workerd process, Worker bundled by wrangler deploy --dry-run, served on its own socket)',
  miniflare: "workerd through Miniflare's entry worker (one workerd process, Worker bundled by wrangler deploy --dry-run)",
  wrangler: 'wrangler dev (two workerd processes: proxy + runtime), X_LOCAL_OBSERVABILITY=false',
};

/**
 * File descriptors an open WebSocket costs the busiest workerd process, measured: workerd
 * keeps two per accepted connection (the socket and a dup of it); wrangler dev's proxy
 * about four (the client's connection and its own to the runtime).
 */
const FDS_PER_SOCKET = { direct: 2, miniflare: 2, wrangler: 4 };

/**
 * @param {{ root: string, env: NodeJS.ProcessEnv }} ctx
 *   `env` is the environment of every wrangler command (local observability off).
 */
export function createHarness(kind, ctx) {
  if (!(kind in HARNESSES)) throw new Error(`unknown harness "${kind}" (one of: ${Object.keys(HARNESSES).join(', ')})`);
  const wranglerBin = join(ctx.root, 'node_modules/.bin/wrangler');
  const wrangler = (args) => execFileSync(wranglerBin, args, { cwd: ctx.root, env: ctx.env, stdio: ['ignore', 'ignore', 'inherit'] });
  const stops = [];

  /**
   * Starts one server and waits until `health` answers.
   * @param {{ name: string, port: number, config: string, persist: string, health: string, vars?: Record<string, string>, bundleDir: string, inspectorPort?: number }} s
   * @returns {Promise<{ url: string, runtime: number, proxy: number | null }>} where the
   *   load connects, and the workerd pids to sample
   */
  function start(s) {
    return kind === 'wrangler' ? startWranglerDev(s) : startMiniflare(s, { ownSocket: kind === 'direct' });
  }

  async function startWranglerDev(s) {
    const vars = Object.entries(s.vars ?? {}).flatMap(([k, v]) => ['--var', `${k}:${v}`]);
    const args = ['dev', '-c', s.config, '--ip', '127.0.0.1', '--port', String(s.port), '--persist-to', s.persist, '--show-interactive-dev-session=false', '--log-level', 'error', ...vars];
    // A process group of its own, so stopping it stops its workerd children too.
    const child = spawn(wranglerBin, args, { cwd: ctx.root, env: ctx.env, detached: true, stdio: ['ignore', 'ignore', 'inherit'] });
    stops.push(() => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    });
    await waitHealthy(s, `http://127.0.0.1:${s.port}`, () => child.exitCode !== null && `wrangler dev exited with ${child.exitCode}`);
    // The proxy is the workerd that owns the public port; the runtime runs the Worker.
    const found = descendants(child.pid, 'workerd');
    const proxy = found.find((p) => p.args.some((a) => a.includes(`entry=127.0.0.1:${s.port}`)));
    const runtime = found.find((p) => p !== proxy);
    if (!runtime) throw new Error(`${s.name}: no workerd process found under wrangler (pid ${child.pid})`);
    return { url: `http://127.0.0.1:${s.port}`, runtime: runtime.pid, proxy: proxy?.pid ?? null };
  }

  /**
   * With `ownSocket`, the Worker is also served on port + 1 by workerd itself
   * (`unsafeDirectSockets`, what wrangler uses to expose a Worker to others), and the load
   * goes there; Miniflare's own port, with its entry worker in front, is then unused.
   */
  async function startMiniflare(s, { ownSocket }) {
    // The empty --env is the top-level environment, said explicitly (wrangler warns otherwise).
    wrangler(['deploy', '--dry-run', '--env=', '-c', s.config, '--outdir', s.bundleDir]);
    const { unstable_getMiniflareWorkerOptions } = await import('wrangler');
    // wrangler's own Miniflare (resolved from wrangler, which may pin a version of its own),
    // so the workerd is the one `wrangler dev` would run.
    const fromWrangler = createRequire(createRequire(join(ctx.root, 'package.json')).resolve('wrangler'));
    const { Miniflare, Log, LogLevel, convertV4MiniflareOptions } = await import(pathToFileURL(fromWrangler.resolve('miniflare')).href);
    // The bundle is one ES module, so the rules for importing other file types are moot.
    const { modulesRules: _rules, assets, ...options } = unstable_getMiniflareWorkerOptions(s.config).workerOptions;
    // On Cloudflare, static assets are routed before the Worker runs, outside its CPU
    // (and unbilled). Locally Miniflare puts two JavaScript workers (router and assets) in
    // front of every request instead, measured at ~0.6 ms of CPU per request against
    // ~0.3 ms for a whole request to the baseline: `direct` leaves them out (no bench
    // shape reads an asset), the other harnesses keep them, as `wrangler dev` runs.
    const workerOptions = ownSocket ? options : { ...options, assets };
    // wrangler derives its options in Miniflare 4's shape, converted as wrangler does.
    const mf = new Miniflare(convertV4MiniflareOptions({
      host: '127.0.0.1',
      port: s.port,
      // Where `wrangler dev --persist-to` and `wrangler d1 ... --persist-to` keep state.
      resourcePersistencePath: join(s.persist, 'v3'),
      log: new Log(LogLevel.ERROR),
      // For bench/profile.mjs: the V8 inspector of this workerd (Miniflare proxies it).
      ...(s.inspectorPort ? { inspectorPort: s.inspectorPort } : {}),
      logRequests: false,
      workers: [
        {
          ...workerOptions,
          name: s.name,
          modules: true,
          modulesRoot: s.bundleDir,
          scriptPath: bundledModule(s.bundleDir),
          bindings: { ...workerOptions.bindings, ...s.vars },
          ...(ownSocket ? { unsafeDirectSockets: [{ host: '127.0.0.1', port: s.port + 1 }] } : {}),
        },
      ],
    }));
    stops.push(() => mf.dispose());
    await mf.ready;
    const url = `http://127.0.0.1:${ownSocket ? s.port + 1 : s.port}`;
    await waitHealthy(s, url);
    const found = descendants(process.pid, 'workerd').filter((p) => p.args.some((a) => a.includes(`entry=127.0.0.1:${s.port}`)));
    if (found.length !== 1) throw new Error(`${s.name}: expected one workerd on port ${s.port}, found ${found.length}`);
    return { url, runtime: found[0].pid, proxy: null };
  }

  /** The one module `wrangler deploy --dry-run` wrote, named after `main`. */
  function bundledModule(dir) {
    const modules = readdirSync(dir).filter((f) => f.endsWith('.js'));
    if (modules.length !== 1) throw new Error(`expected one bundled module in ${dir}, found: ${modules.join(', ') || 'none'}`);
    return join(dir, modules[0]);
  }

  async function waitHealthy(s, url, failed = () => false) {
    const until = Date.now() + STARTUP_TIMEOUT_MS;
    while (Date.now() < until) {
      const reason = failed();
      if (reason) throw new Error(`${s.name}: ${reason}`);
      try {
        const res = await fetch(`${url}${s.health}`, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`${s.name} did not start on port ${s.port} within ${STARTUP_TIMEOUT_MS / 1000} s`);
  }

  /** Stops every server started; waits for the direct ones' workerd to exit. */
  async function stopAll() {
    await Promise.allSettled(stops.splice(0).map((stop) => stop()));
  }

  return { kind, description: HARNESSES[kind], fdsPerSocket: FDS_PER_SOCKET[kind], wrangler, start, stopAll };
}
