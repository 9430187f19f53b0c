/**
 * @module test/reliability/server
 * A real `wrangler dev` the reliability scenarios can crash: its own persisted state
 * under `.wrangler/reliability-<port>`, kept across `kill()` and `restart()`, so a
 * SIGKILL mid-run and a restart on the same state is what a crashed and restarted
 * server looks like. Bound to 127.0.0.1 only. Accounts whose handle starts with
 * `svc` are put on the `service` rate-limit tier by a trigger installed before the
 * server starts (../e2e/migrated-state.ts; the bench does the same), so the scenarios'
 * senders are not limited while the overload scenario's ordinary accounts are.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freshState } from '../e2e/migrated-state.js';
import { INSPECTOR_PORT_OFFSET } from '../e2e/wrangler.js';

const ROOT = resolve(import.meta.dirname, '../..');
const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');
const START_TIMEOUT_MS = 90_000;
/** Starts of one `wrangler dev` before giving up: two starting at once can race for an internal port. */
const START_ATTEMPTS = 3;

export interface Server {
  url: string;
  port: number;
  /** Ends `wrangler dev` and its workerd processes at once, as a crash would (state on disk stays). */
  kill(): Promise<void>;
  /** Starts again on the same port and the same persisted state; resolves when /healthz answers. */
  restart(): Promise<void>;
  /** Stops for good (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
  /** The last few kilobytes of wrangler's output, for failure messages. */
  readonly output: string;
}

export async function startServer(port: number, vars: Record<string, string> = {}): Promise<Server> {
  if (port < 8830 || port > 8849) throw new Error(`reliability servers use ports 8830-8849, not ${port}`);
  const persist = join(ROOT, '.wrangler', `reliability-${port}`);
  await freshState(persist);
  mkdirSync(join(ROOT, 'dist/web'), { recursive: true }); // the assets binding needs its directory
  const env = { ...process.env, X_LOCAL_OBSERVABILITY: 'false', WRANGLER_SEND_METRICS: 'false' };

  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let output = '';
  const varArgs = Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`]);

  const startOnce = async (): Promise<void> => {
    const proc = spawn(WRANGLER, ['dev', '--port', String(port), '--inspector-port', String(port + INSPECTOR_PORT_OFFSET), '--ip', '127.0.0.1', '--persist-to', persist, '--show-interactive-dev-session=false', ...varArgs], {
      cwd: ROOT,
      env,
      detached: true, // its own process group, so kill() also ends workerd
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-6_000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`wrangler dev exited (${proc.exitCode ?? proc.signalCode}):\n${output}`);
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) {
        await signalGroup(proc, 'SIGKILL');
        throw new Error(`wrangler dev did not answer /healthz within ${START_TIMEOUT_MS} ms:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  const start = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOnce();
      } catch (error) {
        if (attempt >= START_ATTEMPTS) throw error;
        if (child) await signalGroup(child, 'SIGKILL');
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
  };

  await start();
  return {
    url,
    port,
    get output() {
      return output;
    },
    async kill() {
      if (child) await signalGroup(child, 'SIGKILL');
    },
    async restart() {
      if (child) await signalGroup(child, 'SIGKILL');
      await start();
    },
    async stop() {
      if (!child) return;
      const proc = child;
      const timer = setTimeout(() => void signalGroup(proc, 'SIGKILL'), 5_000);
      await signalGroup(proc, 'SIGTERM');
      clearTimeout(timer);
    },
  };
}

/** Sends `signal` to the process group and waits (at most 10 s) for the leader to exit. */
async function signalGroup(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    process.kill(-child.pid, signal);
  } catch {
    return; // already gone
  }
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
}
