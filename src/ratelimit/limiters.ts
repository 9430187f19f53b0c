/**
 * @module ratelimit/limiters
 * The Worker's side of the keyed limits: which LimiterDO answers for which key, and the
 * `rate_limited` error a refusal becomes.
 */
import type { Context } from 'hono';
import type { AppBindings, Env } from '../env.js';
import { AppError } from '../errors.js';
import type { Decision, WindowRule } from './sliding-window.js';

export type LimitKey = `address:${string}:${string}` | `handle:${string}` | `device:${string}:${string}` | `user:${string}:${string}`;

export function limiter(env: Env, key: LimitKey) {
  return env.LIMITERS.getByName(key);
}

/**
 * The client's address as Cloudflare reports it. Cloudflare sets this header on every
 * request and overwrites any value a client sends; locally it may be absent.
 */
export function clientAddress(c: Context<AppBindings>): string {
  return c.req.header('cf-connecting-ip') ?? 'local';
}

export function rateLimited(decision: Decision, what: string): void {
  if (decision.allowed) return;
  const seconds = Math.ceil(decision.retryAfterMs / 1000);
  throw new AppError('rate_limited', `Too many ${what}; try again in ${seconds} s.`, { retryAfterMs: decision.retryAfterMs });
}

export async function take(env: Env, key: LimitKey, rule: WindowRule, what: string): Promise<void> {
  rateLimited(await limiter(env, key).take(rule), what);
}
