/**
 * A deployed environment (staging, production) refuses to serve while a secret is
 * missing, malformed or a development value from wrangler.toml, and says which; the
 * local environment runs on the development values. `/healthz` (liveness) always answers.
 */
import { describe, expect, it } from 'vitest';
import { createExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { app } from '../../src/index.js';
import { configProblems } from '../../src/config.js';
import type { Env } from '../../src/env.js';

/** A well-formed key pair and secret that are not the development ones (never used to sign anything here). */
const REAL = {
  AUTH_SECRET: 'a-real-secret-of-at-least-32-characters-0123',
  VAPID_PUBLIC_KEY: `B${'x'.repeat(86)}`,
  VAPID_PRIVATE_KEY: 'y'.repeat(43),
  VAPID_SUBJECT: 'mailto:ops@example.com',
  ADMIN_TOKEN: undefined,
};

function fetchAs(overrides: Partial<Env>, path: string): Promise<Response> {
  return Promise.resolve(app.fetch(new Request(`http://chat.test${path}`), { ...env, ...overrides } as Env, createExecutionContext()));
}

describe('deployed configuration', () => {
  it('the local environment serves on the development values', () => {
    expect(env.ENVIRONMENT).toBe('development');
    expect(configProblems(env)).toEqual([]);
  });

  for (const ENVIRONMENT of ['staging', 'production']) {
    it(`${ENVIRONMENT} refuses the development values and names each one`, async () => {
      const res = await fetchAs({ ENVIRONMENT }, '/v1/users/me');
      expect(res.status).toBe(500);
      const body = await res.json<{ code: string; message: string }>();
      expect(body.code).toBe('internal');
      expect(body.message).toBe(
        'The service is not configured: AUTH_SECRET (the development value), VAPID_PUBLIC_KEY (the development value), VAPID_SUBJECT (the development value), ADMIN_TOKEN (the development value).',
      );
      // The values themselves are never echoed.
      expect(body.message).not.toContain(env.AUTH_SECRET!);
    });
  }

  it('names missing and malformed secrets', async () => {
    const res = await fetchAs({ ENVIRONMENT: 'production', AUTH_SECRET: undefined, VAPID_PUBLIC_KEY: 'short', VAPID_PRIVATE_KEY: undefined, VAPID_SUBJECT: 'ops@example.com', ADMIN_TOKEN: 'short' }, '/v1/auth/tickets');
    expect(res.status).toBe(500);
    expect((await res.json<{ message: string }>()).message).toBe(
      'The service is not configured: AUTH_SECRET (missing), VAPID_PUBLIC_KEY (malformed), VAPID_PRIVATE_KEY (missing), VAPID_SUBJECT (malformed), ADMIN_TOKEN (too short).',
    );
    expect(configProblems({ ...env, ...REAL, ENVIRONMENT: 'production', AUTH_SECRET: 'x'.repeat(31) })).toEqual([{ setting: 'AUTH_SECRET', problem: 'too short' }]);
  });

  it('an unset ENVIRONMENT is treated as deployed', () => {
    expect(configProblems({ ...env, ENVIRONMENT: undefined as unknown as string }).map((p) => p.setting)).toEqual(['AUTH_SECRET', 'VAPID_PUBLIC_KEY', 'VAPID_SUBJECT', 'ADMIN_TOKEN']);
  });

  it('ADMIN_TOKEN is optional: unset keeps /v1/admin/stats closed, the service serves', () => {
    expect(configProblems({ ...env, ...REAL, ENVIRONMENT: 'production' })).toEqual([]);
  });

  it('serves once every secret is real; /healthz answers either way', async () => {
    expect((await fetchAs({ ENVIRONMENT: 'production', ...REAL }, '/v1/nowhere')).status).toBe(404);
    expect((await fetchAs({ ENVIRONMENT: 'production', ...REAL }, '/v1/users/me')).status).toBe(401);
    expect((await fetchAs({ ENVIRONMENT: 'production' }, '/healthz')).status).toBe(200);
  });
});
