import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import { call, json, randomAddress, registerUser, uniqueHandle } from './helpers.js';
import { decide, prune } from '../../src/ratelimit/sliding-window.js';
import { ACCOUNT_LIMITS, LOGIN_BACKOFF, TIER_LIMITS, loginBackoffMs, messageRules } from '../../src/ratelimit/rules.js';

describe('sliding window', () => {
  it('never allows more than the limit in any window, even across boundaries', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 200 }),
        (gaps, limit, windowMs) => {
          const rule = { limit, windowMs };
          let hits: number[] = [];
          const allowed: number[] = [];
          let now = 0;
          for (const gap of gaps) {
            now += gap;
            const decision = decide(hits, now, rule);
            if (decision.allowed) {
              hits = prune([...hits, now], now, windowMs);
              allowed.push(now);
            } else {
              // The promised retry time is exact: one more fits then, not before.
              expect(decide(hits, now + decision.retryAfterMs, rule).allowed).toBe(true);
              if (decision.retryAfterMs > 1) expect(decide(hits, now + decision.retryAfterMs - 1, rule).allowed).toBe(false);
            }
          }
          for (const t of allowed) {
            expect(allowed.filter((u) => u > t - windowMs && u <= t).length).toBeLessThanOrEqual(limit);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('account limits', () => {
  it('registrations per address: over the limit is 429 with Retry-After, and nothing is stored', async () => {
    const address = randomAddress();
    const register = (handle: string) =>
      call('/v1/auth/register', {
        body: { handle, displayName: 'x', password: 'correct horse battery', deviceName: 'x' },
        headers: { 'cf-connecting-ip': address },
      });
    for (let i = 0; i < ACCOUNT_LIMITS.registrationsPerAddress.limit; i++) expect((await register(uniqueHandle('r'))).status).toBe(201);
    const handle = uniqueHandle('over');
    const refused = await register(handle);
    expect(refused.status).toBe(429);
    const body = await refused.json<any>();
    expect(body.code).toBe('rate_limited');
    expect(body.retryAfterMs).toBeGreaterThan(0);
    expect(body.retryAfterMs).toBeLessThanOrEqual(ACCOUNT_LIMITS.registrationsPerAddress.windowMs);
    expect(Number(refused.headers.get('retry-after'))).toBe(Math.ceil(body.retryAfterMs / 1000));
    expect(await env.DB.prepare('SELECT 1 FROM users WHERE handle = ?').bind(handle).first()).toBeNull();
  });

  it('failed logins to a handle back off exponentially; the right password still works after the wait', async () => {
    const session = await registerUser('victim');
    const address = randomAddress();
    const attempt = (password: string) =>
      call('/v1/auth/login', { body: { handle: session.user.handle, password, deviceName: 'x' }, headers: { 'cf-connecting-ip': address } });
    for (let i = 0; i < LOGIN_BACKOFF.freeFailures; i++) expect((await attempt('wrong password')).status).toBe(401);
    // Past the free failures, even the right password must wait (it is not even checked).
    const blocked = await attempt('correct horse battery');
    expect(blocked.status).toBe(429);
    const { retryAfterMs } = await blocked.json<any>();
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(loginBackoffMs(LOGIN_BACKOFF.freeFailures));
    // The claim itself: after the time the server named (not a wait for state), the login goes through.
    await new Promise((resolve) => setTimeout(resolve, retryAfterMs + 50));
    expect((await attempt('correct horse battery')).status).toBe(200);
    // Success reset the count: failures are free again.
    expect((await attempt('wrong password')).status).toBe(401);
    expect((await attempt('wrong password')).status).toBe(401);
  });

  it('the backoff doubles per failure past the free ones, up to its cap', () => {
    expect(loginBackoffMs(LOGIN_BACKOFF.freeFailures - 1)).toBe(0);
    expect(loginBackoffMs(LOGIN_BACKOFF.freeFailures)).toBe(LOGIN_BACKOFF.baseDelayMs);
    expect(loginBackoffMs(LOGIN_BACKOFF.freeFailures + 3)).toBe(LOGIN_BACKOFF.baseDelayMs * 8);
    expect(loginBackoffMs(1000)).toBe(LOGIN_BACKOFF.maxDelayMs);
  });

  it('connect tickets per device, by the new-account tier', async () => {
    const session = await registerUser('tickets');
    const rule = TIER_LIMITS.new.connectTickets;
    for (let i = 0; i < rule.limit; i++) await json('/v1/auth/tickets', { token: session.accessToken, method: 'POST' }, 201);
    const refused = await json('/v1/auth/tickets', { token: session.accessToken, method: 'POST' }, 429);
    expect(refused.code).toBe('rate_limited');
    expect(TIER_LIMITS.new.connectTickets.limit).toBeLessThan(TIER_LIMITS.standard.connectTickets.limit);
  });
});

describe('configurable service tier', () => {
  it('a deployment may raise the service tier\'s message limits, and only that tier\'s', () => {
    const raised = { SERVICE_TIER_MESSAGES_PER_MINUTE: '250000' };
    expect(messageRules('service', raised).userMessages).toEqual({ limit: 250_000, windowMs: 60_000 });
    expect(messageRules('service', raised).conversationMessages).toEqual({ limit: 250_000, windowMs: 60_000 });
    expect(messageRules('standard', raised).userMessages).toEqual(TIER_LIMITS.standard.userMessages);
    expect(messageRules('new', raised).conversationMessages).toEqual(TIER_LIMITS.new.conversationMessages);
    for (const bad of [undefined, '', 'lots', '-5', '0', '1.5']) {
      expect(messageRules('service', { SERVICE_TIER_MESSAGES_PER_MINUTE: bad }).userMessages).toEqual(TIER_LIMITS.service.userMessages);
    }
  });
});
