/**
 * @module routes/ops
 * For operators: readiness (`/readyz`: the configuration, D1, R2 and one Durable Object,
 * each touched and timed) and a statistics summary (`/v1/admin/stats`, behind the
 * ADMIN_TOKEN operator token). Liveness is `/healthz` in src/index.ts.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppBindings, Env } from '../env.js';
import { adminToken, configProblems, describeProblems } from '../config.js';
import { AppError } from '../errors.js';
import { doc } from '../openapi/describe.js';
import { log, reason } from '../log.js';
import { snapshot } from '../metrics.js';

/** Each dependency's check: it answered, and how long it took; `error` names what was thrown (never its message). */
const Check = z.object({ ok: z.boolean(), ms: z.number(), error: z.string().optional() });
const Readiness = z.object({
  ok: z.boolean(),
  checks: z.object({
    config: z.object({ ok: z.boolean(), problems: z.string().optional() }),
    d1: Check,
    r2: Check,
    durableObject: Check,
  }),
});
const Stats = z.object({
  environment: z.string(),
  isolate: z.object({ since: z.number().int(), counts: z.record(z.string(), z.number()) }).describe("This isolate's counters since it started: under wrangler dev, the whole service; deployed, one isolate of many (use Analytics Engine, docs/OPERATIONS.md)."),
  database: z.object({ users: z.number().int(), activeDevices: z.number().int(), media: z.number().int(), pushSubscriptions: z.number().int(), reports: z.number().int() }),
});

/** A readiness probe gives up on a dependency after this long. */
const CHECK_TIMEOUT_MS = 5_000;

async function timed(what: string, probe: () => Promise<unknown>): Promise<z.infer<typeof Check>> {
  const started = Date.now();
  try {
    await Promise.race([probe(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), CHECK_TIMEOUT_MS))]);
    return { ok: true, ms: Date.now() - started };
  } catch (err) {
    log.warn('readiness_failed', { check: what, reason: reason(err) });
    return { ok: false, ms: Date.now() - started, error: err instanceof Error ? err.name : 'Error' };
  }
}

async function readiness(env: Env): Promise<z.infer<typeof Readiness>> {
  const problems = configProblems(env);
  const [d1, r2, durableObject] = await Promise.all([
    timed('d1', () => env.DB.prepare('SELECT 1').first()),
    // A key that never exists: each bucket (the default and the EU one) answers null.
    timed('r2', () => Promise.all([env.MEDIA.head('readyz/probe'), env.MEDIA_EU.head('readyz/probe')])),
    timed('durable_object', () => env.LIMITERS.getByName('readyz').ping()),
  ]);
  const config = problems.length === 0 ? { ok: true } : { ok: false, problems: describeProblems(problems) };
  return { ok: config.ok && d1.ok && r2.ok && durableObject.ok, checks: { config, d1, r2, durableObject } };
}

/** Constant-time comparison of the offered token with the operator's. */
async function sameToken(offered: string, expected: string): Promise<boolean> {
  const digest = async (s: string) => new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)));
  const [a, b] = await Promise.all([digest(offered), digest(expected)]);
  return crypto.subtle.timingSafeEqual(a, b);
}

async function count(env: Env, sql: string): Promise<number> {
  return (await env.DB.prepare(sql).first<{ n: number }>())?.n ?? 0;
}

/** Each route's OpenAPI entry (src/openapi/describe.ts). */
const docs = {
  readyz: doc({
    tag: 'operations',
    auth: 'none',
    summary: 'Readiness',
    description: 'Checks the configuration (as a deployed Worker refuses it), and touches D1 (`SELECT 1`), R2 (a HEAD) and one Durable Object (a LimiterDO ping), each timed. 503 when any fails; for load balancers and the deploy job.',
    responses: {
      200: { description: 'Ready.', schema: Readiness },
      503: { description: 'Not ready: the failing checks say which.', schema: Readiness },
    },
  }),
  stats: doc({
    tag: 'operations',
    auth: 'operator',
    summary: 'Operator statistics',
    description:
      "A summary for local use: this isolate's counters (sends, rejections by code, open sockets and streams by wire, push outcomes) and row counts from D1. `Authorization: Bearer <ADMIN_TOKEN>`; closed when no ADMIN_TOKEN is set.",
    responses: { 200: { description: 'The summary.', schema: Stats } },
  }),
};

export const opsRoutes = new Hono<AppBindings>()
  .get('/readyz', docs.readyz, async (c) => {
    const ready = await readiness(c.env);
    return c.json(ready, ready.ok ? 200 : 503, { 'cache-control': 'no-store' });
  })
  .get('/v1/admin/stats', docs.stats, async (c) => {
    const expected = adminToken(c.env);
    if (!expected) throw new AppError('forbidden', 'Operator statistics are closed: no ADMIN_TOKEN is set.');
    const offered = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '')?.[1];
    if (!offered) throw new AppError('unauthenticated', 'Operator statistics need the operator token.');
    if (!(await sameToken(offered, expected))) throw new AppError('forbidden', 'That is not the operator token.');
    const [users, activeDevices, media, pushSubscriptions, reports] = await Promise.all([
      count(c.env, 'SELECT COUNT(*) AS n FROM users'),
      count(c.env, 'SELECT COUNT(*) AS n FROM devices WHERE revoked_at IS NULL'),
      count(c.env, "SELECT COUNT(*) AS n FROM media WHERE state = 'ready'"),
      count(c.env, 'SELECT COUNT(*) AS n FROM push_subscriptions'),
      count(c.env, 'SELECT COUNT(*) AS n FROM reports'),
    ]);
    const stats: z.infer<typeof Stats> = { environment: c.env.ENVIRONMENT, isolate: snapshot(), database: { users, activeDevices, media, pushSubscriptions, reports } };
    return c.json(stats, 200, { 'cache-control': 'no-store' });
  });
