/**
 * CORS: an allowed origin gets its headers (preflight and request alike), any other
 * origin none; a request without `Origin` (same-origin, or not a browser) is not a CORS
 * request and gets none either, but keeps its request id on every kind of answer.
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { call, createDirect, registerUser } from './helpers.js';

const allowed = env.ALLOWED_ORIGINS.split(',')[0]!;

describe('CORS', () => {
  it('answers an allowed origin, not another, and leaves requests without Origin alone', async () => {
    const alice = await registerUser('alice');
    const preflight = await call('/v1/users/me', {
      method: 'OPTIONS',
      headers: { origin: allowed, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(allowed);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('Authorization');
    expect(preflight.headers.get('access-control-max-age')).toBe('600');

    const cross = await call('/v1/users/me', { token: alice.accessToken, headers: { origin: allowed } });
    expect(cross.status).toBe(200);
    expect(cross.headers.get('access-control-allow-origin')).toBe(allowed);
    expect(cross.headers.get('access-control-expose-headers')).toContain('X-Request-Id');
    expect(cross.headers.get('vary')).toContain('Origin');

    const stranger = await call('/v1/users/me', { token: alice.accessToken, headers: { origin: 'https://evil.example' } });
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();

    const plain = await call('/v1/users/me', { token: alice.accessToken });
    expect(plain.status).toBe(200);
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
    expect(plain.headers.get('access-control-expose-headers')).toBeNull();
    expect(plain.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('stamps the request id on answers a handler builds itself, with or without Origin', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    for (const headers of [{}, { origin: allowed }] as Record<string, string>[]) {
      const stream = await call(`/v1/conversations/${id}/stream`, { token: alice.accessToken, headers });
      expect(stream.status).toBe(200);
      expect(stream.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(stream.headers.get('access-control-allow-origin')).toBe('origin' in headers ? allowed : null);
      await stream.body?.cancel();
    }
  });
});
