/**
 * A real `wrangler dev` for end-to-end tests: its own persist dir under .wrangler/, D1
 * migrated (a copy of ./migrated-state.ts's template), bound to 127.0.0.1, waited for through /healthz,
 * and stopped (its whole process group) by `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freshState } from './migrated-state.js';

const ROOT = resolve(import.meta.dirname, '../..');
const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');
const START_TIMEOUT_MS = 60_000;
/**
 * Each wrangler dev gets its own devtools port (its port plus this): test files run two
 * at a time, and two wranglers starting at once would both pick the same free default.
 */
export const INSPECTOR_PORT_OFFSET = 20_000;

export interface Wrangler {
  url: string;
  /** Its state on disk (D1, R2, every Durable Object's SQLite), e.g. to search it for what must not be stored. */
  persist: string;
  /** The last few kB wrangler printed, to explain a failure. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Secrets a deployed environment accepts (`src/config.ts` refuses the development values
 * of wrangler.toml): a fresh auth secret, operator token and VAPID key pair, for running
 * the local config as production would.
 */
export async function productionSecrets(): Promise<Record<string, string>> {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign'])) as CryptoKeyPair;
  const raw = new Uint8Array((await crypto.subtle.exportKey('raw', pair.publicKey)) as ArrayBuffer);
  const jwk = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JsonWebKey;
  return {
    ENVIRONMENT: 'production',
    AUTH_SECRET: `test-${crypto.randomUUID()}-${crypto.randomUUID()}`,
    ADMIN_TOKEN: `test-${crypto.randomUUID()}-${crypto.randomUUID()}`,
    VAPID_PUBLIC_KEY: Buffer.from(raw).toString('base64url'),
    VAPID_PRIVATE_KEY: jwk.d!,
    VAPID_SUBJECT: 'mailto:operator@example.com',
  };
}

/**
 * `vars` override wrangler.toml's `[vars]` for this run (`--var NAME:VALUE`), e.g. to run
 * the local config as production would (`ENVIRONMENT: 'production'`).
 */
export async function startWrangler(port: number, vars: Record<string, string> = {}): Promise<Wrangler> {
  // Something already answering here (e.g. a wrangler left over from an aborted run) would
  // pass the health check below in place of the server started now.
  const taken = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1_000) }).then(
    () => true,
    () => false,
  );
  if (taken) throw new Error(`port ${port} is already in use: stop what runs there first`);
  const persist = join(ROOT, '.wrangler', `e2e-${port}`);
  await freshState(persist);
  // The assets binding needs its directory; the API under test does not need the web build.
  mkdirSync(join(ROOT, 'dist/web'), { recursive: true });
  const env = { ...process.env, X_LOCAL_OBSERVABILITY: 'false', WRANGLER_SEND_METRICS: 'false' };

  const varArgs = Object.entries(vars).flatMap(([name, value]) => ['--var', `${name}:${value}`]);
  const child = spawn(WRANGLER, ['dev', '--port', String(port), '--inspector-port', String(port + INSPECTOR_PORT_OFFSET), '--ip', '127.0.0.1', '--persist-to', persist, '--show-interactive-dev-session=false', ...varArgs], {
    cwd: ROOT,
    env,
    detached: true, // own process group, so stop() also ends workerd
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${output}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      kill(child);
      throw new Error(`wrangler dev did not answer /healthz within ${START_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { url, persist, output: () => output, stop: () => stop(child) };
}

function kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  kill(child);
  const timer = setTimeout(() => kill(child, 'SIGKILL'), 5_000);
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  clearTimeout(timer);
}
