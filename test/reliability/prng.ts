/**
 * @module test/reliability/prng
 * A seeded pseudo-random generator (mulberry32), so the fault schedule and the send
 * pattern of a run can be replayed: every scenario prints its seed, and
 * `RELIABILITY_SEED=<seed>` runs it again with the same one.
 */

export interface Rng {
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** A new generator derived from this one, for an independent stream (e.g. the proxy's). */
  fork(): Rng;
}

export function rng(seed: number): Rng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const self: Rng = {
    seed,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
    fork: () => rng(Math.floor(next() * 4_294_967_296)),
  };
  return self;
}

/** The run's seed: `RELIABILITY_SEED` if set, else a fresh one. Printed by every scenario. */
export function runSeed(): number {
  const fromEnv = process.env.RELIABILITY_SEED;
  if (fromEnv !== undefined && fromEnv !== '') {
    const seed = Number(fromEnv);
    if (!Number.isInteger(seed) || seed < 0) throw new Error(`RELIABILITY_SEED must be a non-negative integer, not ${fromEnv}`);
    return seed;
  }
  return Math.floor(Math.random() * 2_147_483_647);
}
