/**
 * @module test/reliability/fleet
 * Devices in processes of their own, as the test sees them: `spawnDevice()` forks
 * `device.ts` (Node type stripping) with the SDK bundled once by esbuild, and each
 * `Device` is a small RPC handle that keeps every observation its process reports.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command, DeviceStatus, DeviceTiming, FromDevice, Observation, PostAnswer, Wire } from './ipc.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** Longest any one command may take. */
const COMMAND_TIMEOUT_MS = 60_000;

let bundled: Promise<string> | null = null;

/** Bundles `src/client` into one ES module for the device processes (once per test file). */
export function sdkBundle(): Promise<string> {
  bundled ??= (async () => {
    const { build } = await import('esbuild');
    const dir = join(ROOT, '.wrangler', 'reliability-sdk');
    mkdirSync(dir, { recursive: true });
    const outfile = join(dir, `sdk-${process.pid}.js`);
    await build({ entryPoints: [join(ROOT, 'src/client/index.ts')], bundle: true, format: 'esm', platform: 'node', target: 'node22', outfile, logLevel: 'warning' });
    process.once('exit', () => rmSync(outfile, { force: true }));
    return outfile;
  })();
  return bundled;
}

/** Short SDK timings: reconnects within a second, dead sockets noticed in ~3 s. */
export const FAST_TIMING: DeviceTiming = {
  backoff: { initialDelayMs: 100, maxDelayMs: 1_000 },
  keepalive: { intervalMs: 1_000, timeoutMs: 2_000 },
  requestTimeoutMs: 4_000,
  streamTiming: { pollHoldMs: 2_000, pollMarginMs: 2_000, sseDeadlineMs: 20_000, ackDelayMs: 200 },
};

export class Device {
  readonly observations: Observation[] = [];
  userId = '';
  deviceId = '';
  #next = 1;
  readonly #calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #exited: string | null = null;

  constructor(
    readonly name: string,
    readonly wire: Wire,
    readonly handle: string,
    readonly proc: ChildProcess,
  ) {
    proc.on('message', (message: FromDevice) => {
      if ('observations' in message) {
        for (const o of message.observations) this.observations.push(o);
        return;
      }
      const call = this.#calls.get(message.id);
      this.#calls.delete(message.id);
      if (message.ok) call?.resolve(message.value);
      else call?.reject(new Error(`${this.name}: ${message.error}`));
    });
    proc.on('exit', (code, signal) => {
      this.#exited = `${this.name} exited (${code ?? signal})`;
      for (const call of this.#calls.values()) call.reject(new Error(this.#exited));
      this.#calls.clear();
    });
  }

  call<T = unknown>(command: Command, timeoutMs = COMMAND_TIMEOUT_MS): Promise<T> {
    if (this.#exited) return Promise.reject(new Error(this.#exited));
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#calls.delete(id);
        reject(new Error(`${this.name}: ${command.op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#calls.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ id, command });
    });
  }

  status(): Promise<DeviceStatus> {
    return this.call<DeviceStatus>({ op: 'status' });
  }

  post(c: string, cmid: string, text: string, copies: number, attempts: number, retryMs = 300, over: 'http' | 'websocket' = 'http'): Promise<PostAnswer[]> {
    if (copies === 0) return Promise.resolve([]);
    return this.call<PostAnswer[]>({ op: 'post', c, cmid, text, copies, attempts, retryMs, over }, 120_000);
  }

  /** Ends the process (its client goes with it, unacked sends included). */
  stop(): void {
    if (this.#exited) return;
    this.proc.kill('SIGKILL');
  }
}

export interface DeviceSpec {
  name: string;
  wire: Wire;
  /** The account: created by the first device of a handle, logged into by the others. */
  handle: string;
  register: boolean;
}

const PASSWORD = 'correct horse battery';

/** Forks a device process, points it at `baseUrl` and signs it in. */
export async function spawnDevice(spec: DeviceSpec, baseUrl: string, timing: DeviceTiming = FAST_TIMING): Promise<Device> {
  const proc = fork(join(import.meta.dirname, 'device.ts'), [], {
    execArgv: ['--disable-warning=ExperimentalWarning'],
    env: { ...process.env, RELIABILITY_SDK: await sdkBundle() },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const device = new Device(spec.name, spec.wire, spec.handle, proc);
  await device.call({ op: 'init', baseUrl, wire: spec.wire, timing });
  const who = await device.call<{ userId: string; deviceId: string }>({ op: spec.register ? 'register' : 'login', handle: spec.handle, password: PASSWORD, deviceName: spec.name });
  device.userId = who.userId;
  device.deviceId = who.deviceId;
  return device;
}

/** Spawns devices in order (an account's first device registers it before the others log in). */
export async function spawnFleet(specs: readonly DeviceSpec[], baseUrl: string, timing: DeviceTiming = FAST_TIMING): Promise<Device[]> {
  const devices: Device[] = [];
  // Registrations first, in parallel; then the extra devices of those accounts.
  const first = specs.filter((s) => s.register);
  devices.push(...(await Promise.all(first.map((s) => spawnDevice(s, baseUrl, timing)))));
  const rest = specs.filter((s) => !s.register);
  devices.push(...(await Promise.all(rest.map((s) => spawnDevice(s, baseUrl, timing)))));
  return specs.map((s) => devices.find((d) => d.name === s.name)!);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 100 ms until it holds; throws with `what` after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(100);
  }
}
