/**
 * @module metrics
 * Counters for operators, written to the Workers Analytics Engine dataset bound as
 * `METRICS` (wrangler.toml; under `wrangler dev` the binding exists and writes go
 * nowhere), and kept in this isolate's memory for `/v1/admin/stats`. One data point per
 * occurrence; the queries that read them are in docs/OPERATIONS.md.
 *
 * A data point is `blobs: [kind, label, detail, route, environment]`, `doubles: [value]`,
 * `indexes: [kind]` (the sampling key):
 *
 * | kind | label (blob2) | detail (blob3) | route (blob4) | value |
 * | --- | --- | --- | --- | --- |
 * | `send` | wire | `stored` / `duplicate` | | 1 |
 * | `rejection` | wire | error code | route pattern (`POST /v1/conversations/:id/messages`), or `ws <frame type>` | 1 |
 * | `socket` | wire | | | +1 opened, -1 closed |
 * | `push` | outcome | | | 1 |
 * | `fanout` | `pass` / `member_failed` | | | a pass: ms from its oldest event's acceptance to the pass; a failed member call: 1 |
 * | `queue` | queue name | | | its depth now (a gauge: read with max or avg, not sum) |
 *
 * Labels are codes, wires, outcomes and route patterns: never an id, a token or a message.
 */
import type { ErrorCode } from './protocol/index.js';

/** What is counted. `socket` values are +1 on open and -1 on close, so their sum is the number open. */
export type Metric =
  | { kind: 'send'; wire: 'http' | 'ws'; outcome: 'stored' | 'duplicate' }
  | { kind: 'rejection'; wire: 'http' | 'ws' | 'inbox_ws'; code: ErrorCode; route?: string }
  | { kind: 'socket'; wire: 'inbox_ws' | 'inbox_sse' | 'chat_ws' | 'feed_sse'; delta: 1 | -1 }
  | { kind: 'push'; outcome: 'queued' | 'collapsed' | 'queue_failed' | 'sent' | 'gone' | 'retry' | 'rejected' | 'stale' }
  | { kind: 'fanout'; outcome: 'pass'; lagMs: number }
  | { kind: 'fanout'; outcome: 'member_failed' }
  /**
   * A queue's depth when its owner last worked on it: a conversation's outbox (membership
   * updates not yet delivered) and its lagging members after a drain; a user's device
   * queue (events its least caught-up device has not acknowledged) after an apply that queued some.
   */
  | { kind: 'queue'; queue: 'conversation_outbox' | 'fanout_lag' | 'device_queue'; depth: number };

interface MetricsEnv {
  METRICS?: AnalyticsEngineDataset;
  ENVIRONMENT?: string;
}

/**
 * This isolate's counts since it started, by `kind:label[:detail]` (socket entries are the
 * number open, `fanout:pass` the sum of pass lags in ms, `queue` entries the last depth seen).
 */
const counts = new Map<string, number>();
const since = Date.now();

function labels(m: Metric): [string, string, number] {
  switch (m.kind) {
    case 'send':
      return [m.wire, m.outcome, 1];
    case 'rejection':
      return [m.wire, m.code, 1];
    case 'socket':
      return [m.wire, '', m.delta];
    case 'push':
      return [m.outcome, '', 1];
    case 'fanout':
      return [m.outcome, '', m.outcome === 'pass' ? m.lagMs : 1];
    case 'queue':
      return [m.queue, '', m.depth];
  }
}

/** Counts one occurrence. Never throws: a metric must not fail the work it measures. */
export function record(env: MetricsEnv, metric: Metric): void {
  const [label, detail, value] = labels(metric);
  const key = detail ? `${metric.kind}:${label}:${detail}` : `${metric.kind}:${label}`;
  counts.set(key, metric.kind === 'queue' ? value : (counts.get(key) ?? 0) + value);
  // A pass's value is its lag; their number, for an average, is kept beside their sum.
  if (metric.kind === 'fanout' && metric.outcome === 'pass') counts.set('fanout:passes', (counts.get('fanout:passes') ?? 0) + 1);
  try {
    const route = metric.kind === 'rejection' ? (metric.route ?? '') : '';
    env.METRICS?.writeDataPoint({ blobs: [metric.kind, label, detail, route, env.ENVIRONMENT ?? ''], doubles: [value], indexes: [metric.kind] });
  } catch {
    // Analytics Engine drops points under pressure by design; so do we.
  }
}

/** This isolate's counters, for `/v1/admin/stats` (one isolate: under `wrangler dev`, the whole service). */
export function snapshot(): { since: number; counts: Record<string, number> } {
  return { since, counts: Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b))) };
}

/**
 * A streamed body (SSE) counted as an open `wire` from now until it ends or its reader
 * goes away: a pass-through, one extra read per chunk.
 */
export function countOpen(env: MetricsEnv, wire: 'inbox_sse' | 'feed_sse', body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  record(env, { kind: 'socket', wire, delta: 1 });
  const reader = body.getReader();
  let open = true;
  const closed = () => {
    if (open) record(env, { kind: 'socket', wire, delta: -1 });
    open = false;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          closed();
          controller.close();
        } else controller.enqueue(value);
      } catch (err) {
        closed();
        controller.error(err);
      }
    },
    cancel(why) {
      closed();
      return reader.cancel(why);
    },
  });
}
