import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { afterConnected, afterFailure, afterUpgradeProbe, currentKind, initialFallback, upgradeDue, type FallbackOptions } from '../../src/client/transports/fallback.js';
import { TRANSPORT_ORDER } from '../../src/client/ChatClient.js';

const options: FallbackOptions = { failuresBeforeFallback: 2, upgradeAfterMs: 1_000 };

describe('fallback state machine', () => {
  it('WebSocket first; blocked twice → SSE; blocked twice → long polling, which stays', () => {
    let s = initialFallback(TRANSPORT_ORDER, null, 0);
    expect(currentKind(s)).toBe('websocket');
    s = afterFailure(s, 1, options);
    expect(currentKind(s)).toBe('websocket');
    s = afterFailure(s, 2, options);
    expect(currentKind(s)).toBe('sse');
    s = afterFailure(afterFailure(s, 3, options), 4, options);
    expect(currentKind(s)).toBe('long-poll');
    for (let i = 0; i < 5; i++) s = afterFailure(s, 5 + i, options);
    expect(currentKind(s)).toBe('long-poll');
  });

  it('a connection that got ready resets the count: drops of a working wire never cause a fallback', () => {
    let s = initialFallback(TRANSPORT_ORDER, null, 0);
    for (let i = 0; i < 20; i++) s = afterConnected(afterFailure(s, i, options));
    expect(currentKind(s)).toBe('websocket');
  });

  it('probes the first kind after upgradeAfterMs on a fallback, and goes back to it when the probe works', () => {
    let s = afterFailure(afterFailure(initialFallback(TRANSPORT_ORDER, null, 0), 0, options), 100, options);
    expect(currentKind(s)).toBe('sse');
    expect(upgradeDue(s, 1_000, options)).toBeNull();
    expect(upgradeDue(s, 1_100, options)).toBe('websocket');
    s = afterUpgradeProbe(s, false, 1_100);
    expect(upgradeDue(s, 1_500, options)).toBeNull();
    expect(currentKind(s)).toBe('sse');
    s = afterUpgradeProbe(s, true, 2_100);
    expect(currentKind(s)).toBe('websocket');
    expect(upgradeDue(s, 99_999, options)).toBeNull();
  });

  it('a forced kind never changes, whatever happens', () => {
    const step = fc.oneof(fc.constant('fail' as const), fc.constant('ok' as const), fc.constant('probe-ok' as const), fc.constant('probe-fail' as const));
    fc.assert(
      fc.property(fc.constantFrom(...TRANSPORT_ORDER), fc.array(step, { maxLength: 50 }), (forced, steps) => {
        let s = initialFallback(TRANSPORT_ORDER, forced, 0);
        steps.forEach((st, t) => {
          if (st === 'fail') s = afterFailure(s, t * 1_000, options);
          else if (st === 'ok') s = afterConnected(s);
          else s = afterUpgradeProbe(s, st === 'probe-ok', t * 1_000);
          expect(upgradeDue(s, t * 10_000, options)).toBeNull();
        });
        expect(currentKind(s)).toBe(forced);
      }),
    );
  });

  it('auto never moves backwards except by a working probe, and never past the last kind', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('fail', 'ok', 'probe-fail'), { maxLength: 60 }), (steps) => {
        let s = initialFallback(TRANSPORT_ORDER, null, 0);
        let index = 0;
        steps.forEach((st, t) => {
          if (st === 'fail') s = afterFailure(s, t, options);
          else if (st === 'ok') s = afterConnected(s);
          else s = afterUpgradeProbe(s, false, t);
          const now = TRANSPORT_ORDER.indexOf(currentKind(s));
          expect(now).toBeGreaterThanOrEqual(index);
          expect(now - index).toBeLessThanOrEqual(1);
          index = now;
        });
      }),
    );
  });
});
