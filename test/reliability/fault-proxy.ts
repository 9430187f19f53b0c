/**
 * @module test/reliability/fault-proxy
 * A TCP proxy on 127.0.0.1 that injects network faults between real SDK clients and a
 * real `wrangler dev`. Every choice it makes (which connections, where in a chunk)
 * comes from a seeded generator, so a failing run's faults replay with its seed. Which
 * connections a fault hits is decided per connection from the seed, the fault's number
 * and the connection's number in order of arrival, and nothing else: a replay hits the
 * n-th connection at the k-th fault again, however many others happen to be open.
 *
 * | fault | what the endpoints see |
 * | --- | --- |
 * | `cut` | a reset on both sides, now; `midFrame` waits for the next chunk in either direction, forwards a random prefix of it and then resets (half a WebSocket frame, half an HTTP body or an SSE line) |
 * | `blackhole` | nothing, ever again, and no close: a dead peer (only a keepalive or a timeout notices) |
 * | `pause` | one direction (or both) holds its bytes for a while, then delivers them in order: a stalled link, nothing lost, as TCP would |
 * | `latency` | every chunk waits `ms` (+ jitter), order kept |
 * | `refuse` | new connections are reset on accept for a while |
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { rng, type Rng } from './prng.js';

type Direction = 'up' | 'down';

interface Pair {
  /** Its number in order of arrival (1, 2, ...). */
  arrival: number;
  client: Socket;
  upstream: Socket;
  blackholed: boolean;
  /** Cut: nothing more goes through, whatever is still queued. */
  dead: boolean;
  paused: Record<Direction, Buffer[] | null>;
  /** Cut at the next chunk, after forwarding part of it. */
  cutMidFrame: boolean;
  /** Chunks held back by latency, in order, with when each is due. */
  delayed: Record<Direction, { due: number; chunk: Buffer }[]>;
}

export interface FaultStats {
  accepted: number;
  refused: number;
  cut: number;
  midFrameCut: number;
  blackholed: number;
  paused: number;
}

export interface FaultProxy {
  url: string;
  readonly stats: FaultStats;
  /** Open connections now. */
  readonly open: number;
  /** Resets a `fraction` of the open connections (all by default); returns how many it chose. */
  cut(options?: { fraction?: number; midFrame?: boolean; refuseMs?: number }): number;
  /** Stops forwarding on a `fraction` of the connections without closing them. */
  blackhole(options?: { fraction?: number }): number;
  /** Holds a direction's bytes on a `fraction` of the connections for `ms`, then delivers them. */
  pause(options: { fraction?: number; direction: Direction | 'both'; ms: number }): number;
  /** Adds `ms` (+ up to `jitterMs`) to every chunk from now on; 0 turns it off. */
  latency(ms: number, jitterMs?: number): void;
  /** Resets new connections for `ms`. */
  refuse(ms: number): void;
  /** Ends every fault: pauses flush, latency off, refusal off, blackholed connections closed. */
  heal(): void;
  close(): Promise<void>;
}

/** How long a mid-frame cut waits for a chunk before cutting anyway. */
const MID_FRAME_WAIT_MS = 1_000;

export async function startFaultProxy(targetPort: number, random: Rng): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  const stats: FaultStats = { accepted: 0, refused: 0, cut: 0, midFrameCut: 0, blackholed: 0, paused: 0 };
  let refuseUntil = 0;
  let latency = { ms: 0, jitterMs: 0 };
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  const reset = (pair: Pair) => {
    pair.dead = true;
    pairs.delete(pair);
    pair.client.resetAndDestroy();
    if (!pair.upstream.destroyed) pair.upstream.resetAndDestroy();
  };

  const write = (pair: Pair, direction: Direction, chunk: Buffer) => {
    if (pair.blackholed || pair.dead) return;
    const to = direction === 'up' ? pair.upstream : pair.client;
    if (to.destroyed) return;
    const held = pair.paused[direction];
    if (held) {
      held.push(chunk);
      return;
    }
    if (pair.cutMidFrame && chunk.length >= 2) {
      to.write(chunk.subarray(0, 1 + Math.floor(random.next() * (chunk.length - 1))));
      stats.midFrameCut++;
      // Let the prefix leave before the reset, or the kernel may discard it.
      setImmediate(() => reset(pair));
      pair.cutMidFrame = false;
      pair.dead = true;
      pairs.delete(pair);
      return;
    }
    to.write(chunk);
  };

  /**
   * Delayed chunks wait in one queue per direction, drained by one timer, so they leave
   * in arrival order (timers of different lengths due the same millisecond may fire in
   * any order, and TCP never reorders bytes).
   */
  const forward = (pair: Pair, direction: Direction, chunk: Buffer) => {
    const queue = pair.delayed[direction];
    if (latency.ms <= 0 && latency.jitterMs <= 0 && queue.length === 0) return write(pair, direction, chunk);
    const due = Math.max(Date.now() + latency.ms + Math.floor(random.next() * latency.jitterMs), queue.at(-1)?.due ?? 0);
    queue.push({ due, chunk });
    if (queue.length === 1) later(due - Date.now(), () => drain(pair, direction));
  };
  const drain = (pair: Pair, direction: Direction) => {
    const queue = pair.delayed[direction];
    while (queue.length > 0 && queue[0]!.due <= Date.now()) write(pair, direction, queue.shift()!.chunk);
    if (queue.length > 0) later(queue[0]!.due - Date.now(), () => drain(pair, direction));
  };

  const server: Server = createServer((client) => {
    if (Date.now() < refuseUntil) {
      stats.refused++;
      client.resetAndDestroy();
      return;
    }
    stats.accepted++;
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: Pair = { arrival: stats.accepted, client, upstream, blackholed: false, dead: false, paused: { up: null, down: null }, cutMidFrame: false, delayed: { up: [], down: [] } };
    pairs.add(pair);
    client.on('data', (chunk) => forward(pair, 'up', chunk));
    upstream.on('data', (chunk) => forward(pair, 'down', chunk));
    const end = () => {
      // A blackholed connection stays open towards the client until the client gives up.
      if (pair.blackholed && !client.destroyed && upstream.destroyed) return;
      pairs.delete(pair);
      // Delayed bytes still due go out first: latency must not turn a clean end into a cut.
      const wait = Math.max(pair.delayed.up.at(-1)?.due ?? 0, pair.delayed.down.at(-1)?.due ?? 0) - Date.now();
      const destroy = () => {
        client.destroy();
        upstream.destroy();
      };
      if (wait > 0 && !client.destroyed) later(wait + 1, destroy);
      else destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy did not bind');

  const choiceSeed = random.int(0, 0xffff_ffff);
  let faultNo = 0;
  /** Connections for the next fault: a seeded draw per connection, from its arrival number. */
  const choose = (fraction: number) => {
    faultNo++;
    const draw = (arrival: number) => rng((choiceSeed ^ Math.imul(faultNo, 0x9e3779b1) ^ Math.imul(arrival, 0x85ebca6b)) >>> 0).next();
    return [...pairs].filter((p) => !p.blackholed && draw(p.arrival) < fraction);
  };
  const flush = (pair: Pair, direction: Direction) => {
    const held = pair.paused[direction];
    pair.paused[direction] = null;
    for (const chunk of held ?? []) write(pair, direction, chunk);
  };
  const blackholed = new Set<Pair>();

  return {
    url: `http://127.0.0.1:${address.port}`,
    stats,
    get open() {
      return pairs.size;
    },
    cut({ fraction = 1, midFrame = false, refuseMs = 0 } = {}) {
      refuseUntil = Math.max(refuseUntil, Date.now() + refuseMs);
      const chosen = choose(fraction);
      for (const pair of chosen) {
        stats.cut++;
        if (!midFrame) {
          reset(pair);
          continue;
        }
        pair.cutMidFrame = true;
        later(MID_FRAME_WAIT_MS, () => {
          if (pair.cutMidFrame && pairs.has(pair)) reset(pair);
        });
      }
      return chosen.length;
    },
    blackhole({ fraction = 1 } = {}) {
      const chosen = choose(fraction);
      for (const pair of chosen) {
        pair.blackholed = true;
        blackholed.add(pair);
        stats.blackholed++;
      }
      return chosen.length;
    },
    pause({ fraction = 1, direction, ms }) {
      const chosen = choose(fraction);
      const directions: Direction[] = direction === 'both' ? ['up', 'down'] : [direction];
      for (const pair of chosen) {
        stats.paused++;
        for (const d of directions) pair.paused[d] ??= [];
        later(ms, () => directions.forEach((d) => flush(pair, d)));
      }
      return chosen.length;
    },
    latency(ms, jitterMs = 0) {
      latency = { ms, jitterMs };
    },
    refuse(ms) {
      refuseUntil = Date.now() + ms;
    },
    heal() {
      latency = { ms: 0, jitterMs: 0 };
      refuseUntil = 0;
      for (const pair of pairs) {
        pair.cutMidFrame = false;
        flush(pair, 'up');
        flush(pair, 'down');
      }
      for (const pair of blackholed) {
        pairs.delete(pair);
        pair.client.destroy();
        pair.upstream.destroy();
      }
      blackholed.clear();
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      for (const pair of [...pairs, ...blackholed]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export type FaultKind = 'cut-all' | 'cut-some' | 'cut-mid-frame' | 'blackhole' | 'pause-down' | 'pause-up' | 'latency';

export interface Fault {
  at: number;
  kind: FaultKind;
  /** Connections it hit. */
  hit: number;
}

const CUTS: readonly FaultKind[] = ['cut-all', 'cut-some', 'cut-mid-frame', 'cut-mid-frame'];
const OTHERS: readonly FaultKind[] = ['pause-down', 'pause-up', 'latency', 'blackhole'];

/**
 * Injects `cuts` cuts (half of them mid-frame) and as many other faults (stalls of one
 * direction, latency, blackholes), alternately, one every `gapMs` (a seeded pick in the
 * range), and resolves with what it did. `stop()` ends it early. Pauses and latency last
 * a few hundred milliseconds; blackholes are left to the clients' keepalives (and
 * `heal()`). `RELIABILITY_FAULTS` narrows the kinds.
 */
export function injectFaults(proxy: FaultProxy, random: Rng, options: { cuts: number; gapMs: [number, number] }): { done: Promise<Fault[]>; stop: () => void } {
  const only = faultKindsFromEnv();
  const narrowed = (kinds: readonly FaultKind[]) => (only ? kinds.filter((k) => only.includes(k)) : kinds);
  const rounds = [narrowed(CUTS), narrowed(OTHERS)].filter((kinds) => kinds.length > 0);
  let stopped = false;
  const faults: Fault[] = [];
  const done = (async () => {
    const started = Date.now();
    for (let i = 0; i < options.cuts * 2 && !stopped; i++) {
      const kinds = rounds[i % rounds.length]!;
      await new Promise((r) => setTimeout(r, random.int(options.gapMs[0], options.gapMs[1])));
      if (stopped) break;
      const kind = random.pick(kinds);
      let hit = 0;
      switch (kind) {
        case 'cut-all':
          hit = proxy.cut({ refuseMs: random.int(0, 300) });
          break;
        case 'cut-some':
          hit = proxy.cut({ fraction: 0.5 });
          break;
        case 'cut-mid-frame':
          hit = proxy.cut({ fraction: random.pick([0.5, 1]), midFrame: true });
          break;
        case 'blackhole':
          hit = proxy.blackhole({ fraction: 0.3 });
          break;
        case 'pause-down':
        case 'pause-up':
          hit = proxy.pause({ fraction: 0.5, direction: kind === 'pause-down' ? 'down' : 'up', ms: random.int(200, 1_500) });
          break;
        case 'latency': {
          proxy.latency(random.int(20, 150), 50);
          const ms = random.int(300, 1_500);
          setTimeout(() => proxy.latency(0), ms);
          hit = proxy.open;
          break;
        }
      }
      faults.push({ at: Date.now() - started, kind, hit });
    }
    return faults;
  })();
  return { done, stop: () => (stopped = true) };
}

/** `RELIABILITY_FAULTS=cut-mid-frame,blackhole` narrows a run to those kinds (to bisect a failure). */
function faultKindsFromEnv(): FaultKind[] | null {
  const raw = process.env.RELIABILITY_FAULTS;
  if (!raw) return null;
  const all: FaultKind[] = ['cut-all', 'cut-some', 'cut-mid-frame', 'blackhole', 'pause-down', 'pause-up', 'latency'];
  const kinds = raw.split(',').map((k) => k.trim()) as FaultKind[];
  for (const k of kinds) if (!all.includes(k)) throw new Error(`RELIABILITY_FAULTS: unknown fault ${k} (one of ${all.join(', ')})`);
  return kinds;
}

/** "12 cuts (5 mid-frame), 3 blackholes, ..." for a scenario's printout. */
export function describeFaults(faults: readonly Fault[]): string {
  const counts = new Map<FaultKind, number>();
  for (const f of faults) counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} ${n}`).join(', ');
}
