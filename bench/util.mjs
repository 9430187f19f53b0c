/**
 * @module bench/util
 * Plain helpers shared by the load generator (bench/load.mjs) and its shape modules
 * (bench/shapes/): bounded concurrency, percentiles, rounding, sleeping, waiting for acks,
 * sending at a fixed rate.
 */

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function percentiles(values) {
  if (values.length === 0) return { p50: null, p95: null, p99: null };
  const sorted = Float64Array.from(values).sort();
  const at = (q) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))], 2);
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

export function round(value, digits = 1) {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A new conversation's first acks were seen to take ~1 s in quick runs after other
 * shapes (the sender's UserDO, which leases its send allowance, is then busy with their
 * fan-out): the warm-up starts once acks flow, so the window measures steady delivery.
 */
export async function untilFirstAck(acking, timeoutMs) {
  let timer;
  await Promise.race([acking, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
}

/**
 * An open loop: calls `send(k)` for k = 0, 1, 2 … at `rate` a second on schedule, never
 * waiting for answers (late ticks catch up at once), until the returned stop is called.
 */
export function openLoop(rate, send) {
  const intervalMs = 1000 / rate;
  const begin = performance.now();
  let k = 0;
  let running = true;
  let timer = null;
  const tick = () => {
    if (!running) return;
    const due = Math.floor((performance.now() - begin) / intervalMs);
    while (k <= due) send(k++);
    timer = setTimeout(tick, Math.max(0, begin + k * intervalMs - performance.now()));
  };
  tick();
  return () => {
    running = false;
    clearTimeout(timer);
  };
}
