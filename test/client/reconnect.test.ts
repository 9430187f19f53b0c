/**
 * The reconnect policy (src/client/reconnect.ts) as properties over a fake clock, and the
 * chat window socket following it: a burst of failures is one short outage (the next try
 * stays close), a stable connection starts over, a flapping one keeps backing off, every
 * delay is capped, and a wake-up (`online`, the page shown again) retries at once: fired
 * directly, and as the browser's own events.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BACKOFF_DEFAULTS, nextDelay, type BackoffOptions } from '../../src/client/backoff.js';
import { HttpApi } from '../../src/client/http.js';
import { OUTAGE_SHARE, ReconnectPolicy, STABLE_MS, wakeSource, type WakeSignal } from '../../src/client/reconnect.js';
import type { TransportSignal } from '../../src/client/transports/types.js';
import { webSocketTransport } from '../../src/client/transports/websocket.js';

const RUNS = { numRuns: 300 };

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const random = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const options: fc.Arbitrary<BackoffOptions> = fc.record({
  initialDelayMs: fc.integer({ min: 1, max: 5_000 }),
  maxDelayMs: fc.integer({ min: 1, max: 120_000 }),
  factor: fc.double({ min: 1, max: 4, noNaN: true }),
  jitter: fc.constant('full' as const),
  stableMs: fc.integer({ min: 1, max: 10_000 }),
});
/** What happens between two `next()` calls: time passes, and maybe a connection gets ready. */
const step = fc.record({ gap: fc.integer({ min: 0, max: 20_000 }), up: fc.boolean(), upFor: fc.integer({ min: 0, max: 20_000 }), r: random });

describe('ReconnectPolicy', () => {
  it('defaults: the first delay within half a second, capped at 10 s, stable after 2 s', () => {
    expect(BACKOFF_DEFAULTS).toMatchObject({ initialDelayMs: 500, maxDelayMs: 10_000, factor: 2, jitter: 'full' });
    expect(STABLE_MS).toBe(2_000);
    const c = clock();
    const policy = new ReconnectPolicy({ ...BACKOFF_DEFAULTS, jitter: 'none' }, c.now);
    expect(policy.next(0)).toBe(500);
  });

  it('every delay lies in [0, min(cap, exponential window, max(first delay, half the outage so far))]', () => {
    fc.assert(
      fc.property(options, fc.array(step, { minLength: 1, maxLength: 40 }), (o, steps) => {
        const c = clock();
        const policy = new ReconnectPolicy(o, c.now);
        let downSince: number | null = null;
        let failures = 0;
        for (const s of steps) {
          let stable = false;
          if (s.up) {
            policy.up();
            c.advance(s.upFor);
            stable = s.upFor >= o.stableMs!;
          }
          if (stable) {
            failures = 0;
            downSince = null;
          }
          downSince ??= c.now();
          const delay = policy.next(s.r);
          const window = Math.min(nextDelay(failures, 0, { ...o, jitter: 'none' }), Math.max(o.initialDelayMs, (c.now() - downSince) * OUTAGE_SHARE));
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(o.maxDelayMs);
          expect(delay).toBeLessThanOrEqual(Math.floor(window));
          failures++;
          c.advance(s.gap);
        }
      }),
      RUNS,
    );
  });

  it('a burst of drops within two seconds is one short outage: the next try is within a second', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 5, maxLength: 5 }), fc.array(random, { minLength: 6, maxLength: 6 }), (gaps, rs) => {
        const c = clock();
        const policy = new ReconnectPolicy(BACKOFF_DEFAULTS, c.now);
        policy.up();
        c.advance(60_000); // long stable before the burst
        for (let i = 0; i < 5; i++) {
          // Each drop: the connection came back briefly, then dropped again.
          policy.next(rs[i]!);
          c.advance(gaps[i]!);
          policy.up();
        }
        expect(policy.next(rs[5]!)).toBeLessThanOrEqual(1_000);
      }),
      RUNS,
    );
    // Plain exponential backoff, for comparison: the sixth try's window is 16 s (capped to 10 s).
    expect(nextDelay(5, 0.999, { ...BACKOFF_DEFAULTS, maxDelayMs: 30_000 })).toBeGreaterThan(15_000);
  });

  it('resets after a stable period, but not after a connection that dropped at once', () => {
    const c = clock();
    const policy = new ReconnectPolicy({ ...BACKOFF_DEFAULTS, jitter: 'none' }, c.now);
    for (let i = 0; i < 8; i++) {
      policy.next(0);
      c.advance(10_000);
    }
    expect(policy.failures).toBe(8);
    // Up, and dropped after a second: still the same outage (a flapping server).
    policy.up();
    c.advance(1_000);
    expect(policy.next(0)).toBe(10_000);
    expect(policy.failures).toBe(9);
    // Up for the stable period: a new outage starts from the first delay.
    policy.up();
    c.advance(STABLE_MS);
    expect(policy.next(0)).toBe(500);
    expect(policy.failures).toBe(1);
  });

  it('a long outage backs off to the cap, and no further', () => {
    const c = clock();
    const policy = new ReconnectPolicy({ ...BACKOFF_DEFAULTS, jitter: 'none' }, c.now);
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) {
      const d = policy.next(0);
      delays.push(d);
      c.advance(d);
    }
    expect(Math.max(...delays)).toBe(10_000);
    expect(delays.at(-1)).toBe(10_000);
    expect(delays).toEqual([...delays].sort((a, b) => a - b));
  });

  it('reset() (the network is back) starts from the first delay', () => {
    const c = clock();
    const policy = new ReconnectPolicy({ ...BACKOFF_DEFAULTS, jitter: 'none' }, c.now);
    for (let i = 0; i < 10; i++) c.advance(policy.next(0));
    expect(policy.next(0)).toBe(10_000);
    policy.reset();
    expect(policy.next(0)).toBe(500);
  });
});

/** A WebSocket that never connects: every socket made is recorded and closed at once (a dead network). */
function deadNetworkSocket() {
  const made: string[] = [];
  class DeadSocket extends EventTarget {
    static readonly OPEN = 1;
    readonly OPEN = 1;
    readyState = 0;
    onopen: ((e: Event) => void) | null = null;
    onmessage: ((e: MessageEvent) => void) | null = null;
    onclose: ((e: CloseEvent) => void) | null = null;
    onerror: ((e: Event) => void) | null = null;
    constructor(url: string) {
      super();
      made.push(url);
      queueMicrotask(() => {
        this.readyState = 3;
        this.onclose?.({ code: 1006, reason: '' } as CloseEvent);
      });
    }
    send(): void {}
    close(): void {}
  }
  return { made, WebSocket: DeadSocket as unknown as typeof WebSocket };
}

/** A chat window socket on a dead network, woken by `wake`; `made` lists every socket it opened. */
function socketOnDeadNetwork(wake: WakeSignal) {
  const net = deadNetworkSocket();
  const api = new HttpApi('http://chat.invalid', async () => Response.json({ ticket: 't'.repeat(32), expiresAt: Date.now() + 60_000 }), () => {}, {
    session: { accessToken: 'a', refreshToken: 'r', accessTokenExpiresAt: Date.now() + 3_600_000, refreshTokenExpiresAt: Date.now() + 7_200_000, deviceId: 'd_1', user: { id: 'u_1', handle: 'x', displayName: 'x' } } as never,
  });
  const signals: TransportSignal['type'][] = [];
  const transport = webSocketTransport({
    api,
    conversationId: 'g_wake',
    signal: (s) => signals.push(s.type),
    backoff: { ...BACKOFF_DEFAULTS, jitter: 'none' },
    keepalive: { intervalMs: 20_000, timeoutMs: 10_000 },
    WebSocket: net.WebSocket,
    wake,
  });
  transport.start();
  return { made: net.made, signals, transport };
}

/**
 * A browser's globals, as far as the wake-up reads them: the global object is an event
 * target (`online` arrives there) and `document` has a visibility state and its own
 * `visibilitychange` event. Node has neither; these stand in for them until the test ends.
 */
function browserGlobals() {
  const window = new EventTarget();
  const document = Object.assign(new EventTarget(), { visibilityState: 'visible' as DocumentVisibilityState });
  vi.stubGlobal('addEventListener', window.addEventListener.bind(window));
  vi.stubGlobal('dispatchEvent', window.dispatchEvent.bind(window));
  vi.stubGlobal('document', document);
  return {
    document,
    /** The page is hidden or shown, as a browser reports it. */
    show(state: DocumentVisibilityState) {
      document.visibilityState = state;
      document.dispatchEvent(new Event('visibilitychange'));
    },
  };
}

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('the chat window socket and the wake-up', () => {
  it('retries at once when woken (the browser is online again), however far out the next try was', async () => {
    vi.useFakeTimers();
    const source = wakeSource();
    const { made, signals, transport } = socketOnDeadNetwork(source.wake);
    // A long outage: the waits grow to the cap.
    await vi.advanceTimersByTimeAsync(120_000);
    const before = made.length;
    expect(before).toBeGreaterThan(3);
    expect(before).toBeLessThan(30);
    // The next try is up to 10 s out; a wake-up makes it now.
    source.fire();
    await vi.advanceTimersByTimeAsync(0);
    expect(made.length).toBe(before + 1);
    // And the wait after it starts from the first delay again.
    await vi.advanceTimersByTimeAsync(500);
    expect(made.length).toBe(before + 2);
    transport.close();
    expect(signals.filter((s) => s === 'down').length).toBeGreaterThan(3);
  });

  it('a real `online` event on the global object retries at once', async () => {
    vi.useFakeTimers();
    browserGlobals();
    const { made, transport } = socketOnDeadNetwork(wakeSource().wake);
    await vi.advanceTimersByTimeAsync(120_000);
    const before = made.length;
    globalThis.dispatchEvent(new Event('online'));
    await vi.advanceTimersByTimeAsync(0);
    expect(made.length).toBe(before + 1);
    // Another kind of event on the same target is not a wake-up.
    globalThis.dispatchEvent(new Event('offline'));
    await vi.advanceTimersByTimeAsync(0);
    expect(made.length).toBe(before + 1);
    transport.close();
  });

  it('the page shown again (`visibilitychange` to visible) retries at once; hidden does not', async () => {
    vi.useFakeTimers();
    const page = browserGlobals();
    const { made, transport } = socketOnDeadNetwork(wakeSource().wake);
    await vi.advanceTimersByTimeAsync(120_000);
    const before = made.length;
    page.show('hidden');
    await vi.advanceTimersByTimeAsync(0);
    expect(made.length).toBe(before);
    page.show('visible');
    await vi.advanceTimersByTimeAsync(0);
    expect(made.length).toBe(before + 1);
    transport.close();
  });
});
