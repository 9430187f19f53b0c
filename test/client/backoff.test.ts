import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BACKOFF_DEFAULTS, nextDelay, type BackoffOptions } from '../../src/client/backoff.js';

const RUNS = { numRuns: 500 };

const random = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const options: fc.Arbitrary<BackoffOptions> = fc.record({
  initialDelayMs: fc.integer({ min: 0, max: 10_000 }),
  maxDelayMs: fc.integer({ min: 0, max: 600_000 }),
  factor: fc.double({ min: 1, max: 10, noNaN: true }),
  jitter: fc.constant('full' as const),
});
const attempt = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 1_000_000 }));

/** The window the delay must stay in, computed independently of the implementation. */
function ceiling(n: number, o: BackoffOptions): number {
  if (o.initialDelayMs === 0) return 0;
  return Math.min(o.maxDelayMs, o.initialDelayMs * o.factor ** n);
}

describe('nextDelay', () => {
  it('starts at half a second and doubles up to 10 s by default', () => {
    const top = { ...BACKOFF_DEFAULTS, jitter: 'none' as const };
    expect([0, 1, 2, 4, 5, 50].map((n) => nextDelay(n, 0, top))).toEqual([500, 1000, 2000, 8_000, 10_000, 10_000]);
    expect(nextDelay(0, 0.5)).toBe(250);
    expect(nextDelay(0, 0)).toBe(0);
  });

  it('treats an endless run of failures as the longest wait', () => {
    const top = { ...BACKOFF_DEFAULTS, jitter: 'none' as const };
    expect(nextDelay(Infinity, 0, top)).toBe(10_000);
    expect(nextDelay(Infinity, 0, { ...top, factor: 1 })).toBe(500); // 1 ** Infinity is NaN
    expect(nextDelay(NaN, 0, top)).toBe(500);
  });

  it('always lies in [0, min(max, initial * factor^attempt)]', () => {
    fc.assert(
      fc.property(attempt, random, options, (n, r, o) => {
        const delay = nextDelay(n, r, o);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(ceiling(n, o));
      }),
      RUNS,
    );
  });

  it('spreads delays over the whole window (full jitter)', () => {
    fc.assert(
      fc.property(attempt, random, options, (n, r, o) => {
        expect(nextDelay(n, r, o)).toBe(Math.floor(r * ceiling(n, o)));
      }),
      RUNS,
    );
  });

  it('has an upper bound that never shrinks as attempts grow', () => {
    fc.assert(
      fc.property(attempt, fc.integer({ min: 1, max: 100 }), options, (n, step, o) => {
        const top = { ...o, jitter: 'none' as const };
        expect(nextDelay(n, 0, top)).toBeLessThanOrEqual(nextDelay(n + step, 0, top));
      }),
      RUNS,
    );
  });

  it('never returns NaN or Infinity, even for absurd input', () => {
    const absurd = fc.oneof(
      fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, Infinity, -Infinity, NaN, -1),
      fc.double(),
    );
    fc.assert(
      fc.property(absurd, fc.oneof(random, fc.double()), options, (n, r, o) => {
        const delay = nextDelay(n, r, o);
        expect(Number.isFinite(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(o.maxDelayMs);
      }),
      RUNS,
    );
  });
});
