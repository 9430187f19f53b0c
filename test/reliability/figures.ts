/**
 * @module test/reliability/figures
 * Recovery times and the scenario's printout. Each scenario prints its figures and
 * writes them to `test-results/reliability/<scenario>.json` (git-ignored), from which
 * docs/RELIABILITY.md is written.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Device } from './fleet.js';

const RESULTS = resolve(import.meta.dirname, '../../test-results/reliability');

export interface Recovery {
  device: string;
  wire: string;
  /** From the server being back to every open conversation's status `open` again. */
  connectedMs: number;
  /** From the server being back to connected, every window at `heads`, every send pending then acked. */
  caughtUpMs: number;
}

/**
 * How long each device took, from `t0` (the server answering again), to be connected and
 * caught up: every open window `open`, showing `heads[c]`, and every send it had queued
 * before `t0` acked. Computed from the device's own timestamped observations.
 */
export function recoveryOf(device: Device, t0: number, heads: ReadonlyMap<string, number>): Recovery {
  let connected = t0;
  let caughtUp = t0;
  const windows = new Set<string>();
  const last = new Map<string, string>();
  for (const o of device.observations) {
    if (o.k === 'open') windows.add(o.c);
    if (o.k !== 'st') continue;
    if (o.at < t0) last.set(o.c, o.status);
    else if (o.status === 'open') {
      if (last.get(o.c) !== 'open') connected = Math.max(connected, o.at);
      last.set(o.c, 'open');
    } else last.set(o.c, o.status);
  }
  if ([...windows].some((c) => last.get(c) !== 'open')) connected = Infinity;
  for (const c of windows) {
    const head = heads.get(c);
    if (head === undefined) continue;
    const reached = device.observations.find((o) => o.k === 'ev' && o.c === c && o.e.seq >= head);
    if (reached) caughtUp = Math.max(caughtUp, reached.at);
    else caughtUp = Infinity;
  }
  const queuedBefore = new Set(device.observations.filter((o) => o.k === 'q' && o.at < t0).map((o) => (o as { cmid: string }).cmid));
  for (const o of device.observations) {
    if (o.k === 'ack' && queuedBefore.has(o.cmid)) {
      queuedBefore.delete(o.cmid);
      caughtUp = Math.max(caughtUp, o.at);
    }
  }
  for (const o of device.observations) if (o.k === 'ack' || o.k === 'fail') queuedBefore.delete(o.cmid);
  if (queuedBefore.size > 0) caughtUp = Infinity;
  return { device: device.name, wire: device.wire, connectedMs: connected - t0, caughtUpMs: Math.max(connected, caughtUp) - t0 };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** p50 and max of recovery (connected, and caught up) per wire, over every recovery of the run. */
export function recoveryByWire(recoveries: readonly Recovery[]): Record<string, { n: number; connectedP50: number; connectedMax: number; p50: number; max: number }> {
  const out: Record<string, { n: number; connectedP50: number; connectedMax: number; p50: number; max: number }> = {};
  for (const wire of [...new Set(recoveries.map((r) => r.wire))].sort()) {
    const mine = recoveries.filter((r) => r.wire === wire);
    out[wire] = {
      n: mine.length,
      connectedP50: percentile(mine.map((r) => r.connectedMs), 50),
      connectedMax: Math.max(...mine.map((r) => r.connectedMs)),
      p50: percentile(mine.map((r) => r.caughtUpMs), 50),
      max: Math.max(...mine.map((r) => r.caughtUpMs)),
    };
  }
  return out;
}

export function describeRecovery(byWire: ReturnType<typeof recoveryByWire>): string {
  return Object.entries(byWire)
    .map(([wire, r]) => `${wire}: caught up p50 ${r.p50} ms, max ${r.max} ms (connected p50 ${r.connectedP50} ms, max ${r.connectedMax} ms; ${r.n} recoveries)`)
    .join('; ');
}

/** Prints the scenario's figures and keeps them as JSON. */
export function report(scenario: string, figures: Record<string, unknown>, text: string): void {
  console.log(`\n[reliability] ${scenario}\n${text}\n`);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, `${scenario}.json`), JSON.stringify({ scenario, at: new Date().toISOString(), ...figures }, null, 2));
}
