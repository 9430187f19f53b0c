/**
 * @module client/transports/fallback
 * Which wire the device event stream uses, as a pure state machine (no timers, the
 * clock passed in). `'auto'` starts with the first kind of the order (WebSocket); a kind
 * that fails to connect `failuresBeforeFallback` times in a row without ever getting
 * ready is taken as blocked (a proxy that strips upgrades, a network that drops
 * streams) and the next kind is tried; the last kind is kept. While on a fallback, an
 * upgrade to the first kind is due every `upgradeAfterMs`. A forced kind never changes.
 */
import type { TransportKind } from './types.js';

export interface FallbackOptions {
  /** Consecutive failed connects (none reached ready) before the next kind is tried. */
  readonly failuresBeforeFallback: number;
  /** How long to stay on a fallback before probing the first kind again. */
  readonly upgradeAfterMs: number;
}

export const FALLBACK_DEFAULTS: FallbackOptions = { failuresBeforeFallback: 3, upgradeAfterMs: 60_000 };

export interface FallbackState {
  readonly order: readonly TransportKind[];
  readonly index: number;
  /** Failed connects of the current kind in a row. */
  readonly failures: number;
  readonly forced: boolean;
  /** When the current kind was chosen, or the last upgrade probe ran. */
  readonly since: number;
}

export function initialFallback(order: readonly TransportKind[], forced: TransportKind | null, now: number): FallbackState {
  if (forced) return { order: [forced], index: 0, failures: 0, forced: true, since: now };
  if (order.length === 0) throw new Error('No transport to choose from.');
  return { order, index: 0, failures: 0, forced: false, since: now };
}

export function currentKind(state: FallbackState): TransportKind {
  return state.order[state.index]!;
}

/** The current kind reached ready: it works. */
export function afterConnected(state: FallbackState): FallbackState {
  return state.failures === 0 ? state : { ...state, failures: 0 };
}

/**
 * The network came back (the browser's `online`): failures seen while it was away, or
 * flapping, say nothing about a blocked wire, so the count starts over.
 */
export function afterNetworkBack(state: FallbackState): FallbackState {
  return afterConnected(state);
}

/** A connect of the current kind failed before ready. */
export function afterFailure(state: FallbackState, now: number, options: FallbackOptions): FallbackState {
  const failures = state.failures + 1;
  if (state.forced || failures < options.failuresBeforeFallback || state.index >= state.order.length - 1) return { ...state, failures };
  return { ...state, index: state.index + 1, failures: 0, since: now };
}

/** The kind to probe now, if an upgrade is due. */
export function upgradeDue(state: FallbackState, now: number, options: FallbackOptions): TransportKind | null {
  if (state.forced || state.index === 0 || now - state.since < options.upgradeAfterMs) return null;
  return state.order[0]!;
}

/** The result of an upgrade probe: on success the first kind is used again; else the wait starts over. */
export function afterUpgradeProbe(state: FallbackState, ok: boolean, now: number): FallbackState {
  return ok ? { ...state, index: 0, failures: 0, since: now } : { ...state, since: now };
}
