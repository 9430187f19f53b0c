import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { SignJWT } from 'jose';
import { call, json, registerUser, uniqueHandle } from './helpers.js';
import type { Session } from '../../src/protocol/index.js';

const PASSWORD = 'correct horse battery';

describe('accounts and devices', () => {
  it('registers, logs in on a second device and lists both devices', async () => {
    const first = await registerUser('alice', 'laptop');
    const second = await json<Session>(
      '/v1/auth/login',
      { body: { handle: first.user.handle, password: PASSWORD, deviceName: 'phone' } },
      200,
    );
    expect(second.user).toEqual(first.user);
    expect(second.deviceId).not.toBe(first.deviceId);

    const { devices } = await json('/v1/devices', { token: second.accessToken }, 200);
    expect(devices.map((d: any) => d.name).sort()).toEqual(['laptop', 'phone']);
    expect(devices.find((d: any) => d.current).id).toBe(second.deviceId);
  });

  it('stores scrypt parameters beside a salted hash, never the password', async () => {
    const session = await registerUser('hash');
    const row = await env.DB.prepare('SELECT * FROM users WHERE id = ?').bind(session.user.id).first<{ password_params: string; password_salt: string }>();
    expect(JSON.parse(row!.password_params)).toEqual({ N: 16384, r: 8, p: 5, keyLength: 32 });
    expect(row!.password_salt.length).toBeGreaterThan(16);
    expect(JSON.stringify(row)).not.toContain(PASSWORD);
  });

  it('answers a wrong password and an unknown handle with the same error', async () => {
    const session = await registerUser('bob');
    const wrong = await call('/v1/auth/login', { body: { handle: session.user.handle, password: 'not the password', deviceName: 'x' } });
    const unknown = await call('/v1/auth/login', { body: { handle: uniqueHandle('nobody'), password: PASSWORD, deviceName: 'x' } });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const [a, b] = [await wrong.json<any>(), await unknown.json<any>()];
    expect(a.code).toBe('invalid_credentials');
    expect({ code: b.code, message: b.message }).toEqual({ code: a.code, message: a.message });
  });

  it('refuses a taken handle', async () => {
    const session = await registerUser('taken');
    const res = await json('/v1/auth/register', { body: { handle: session.user.handle, displayName: 'x', password: PASSWORD, deviceName: 'x' } }, 409);
    expect(res.code).toBe('handle_taken');
  });

  it('rotates refresh tokens, and a reused one signs the device out', async () => {
    const session = await registerUser('rotate');
    const next = await json<Session>('/v1/auth/refresh', { body: { refreshToken: session.refreshToken } }, 200);
    expect(next.refreshToken).not.toBe(session.refreshToken);
    expect(next.deviceId).toBe(session.deviceId);
    await json('/v1/users/me', { token: next.accessToken }, 200);

    const replay = await json('/v1/auth/refresh', { body: { refreshToken: session.refreshToken } }, 401);
    expect(replay.code).toBe('invalid_token');
    // Theft detected: the whole device is out, including the newest tokens.
    expect((await json('/v1/users/me', { token: next.accessToken }, 401)).code).toBe('device_revoked');
    expect((await json('/v1/auth/refresh', { body: { refreshToken: next.refreshToken } }, 401)).code).toBe('invalid_token');
  });

  it('logout revokes the device: its access and refresh tokens stop working', async () => {
    const session = await registerUser('logout');
    await json('/v1/auth/logout', { token: session.accessToken, method: 'POST' }, 204);
    expect((await json('/v1/users/me', { token: session.accessToken }, 401)).code).toBe('device_revoked');
    expect((await json('/v1/auth/refresh', { body: { refreshToken: session.refreshToken } }, 401)).code).toBe('invalid_token');
  });

  it('revoking another device signs it out and hides it from the list', async () => {
    const laptop = await registerUser('multi', 'laptop');
    const phone = await json<Session>('/v1/auth/login', { body: { handle: laptop.user.handle, password: PASSWORD, deviceName: 'phone' } }, 200);
    await json(`/v1/devices/${phone.deviceId}`, { token: laptop.accessToken, method: 'DELETE' }, 204);
    expect((await json('/v1/users/me', { token: phone.accessToken }, 401)).code).toBe('device_revoked');
    const { devices } = await json('/v1/devices', { token: laptop.accessToken }, 200);
    expect(devices.map((d: any) => d.id)).toEqual([laptop.deviceId]);
    // Someone else's device is not yours to revoke.
    const other = await registerUser('other');
    expect((await json(`/v1/devices/${laptop.deviceId}`, { token: other.accessToken, method: 'DELETE' }, 404)).code).toBe('not_found');
  });

  it('rejects missing, forged and expired access tokens', async () => {
    const session = await registerUser('forge');
    expect((await json('/v1/users/me', {}, 401)).code).toBe('unauthenticated');
    const forged = await new SignJWT({ did: session.deviceId })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(session.user.id)
      .setIssuer('edge-chat')
      .setAudience('edge-chat:access')
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode('some-other-secret-that-is-long-enough-000'));
    expect((await json('/v1/users/me', { token: forged }, 401)).code).toBe('invalid_token');
    const expired = await new SignJWT({ did: session.deviceId })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(session.user.id)
      .setIssuer('edge-chat')
      .setAudience('edge-chat:access')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(env.AUTH_SECRET));
    const res = await json('/v1/users/me', { token: expired }, 401);
    expect(res.message).toMatch(/expired/);
    const tampered = session.accessToken.slice(0, -4) + (session.accessToken.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect((await json('/v1/users/me', { token: tampered }, 401)).code).toBe('invalid_token');
  });

  it('validates registration input with a clear error and stores nothing', async () => {
    const handle = uniqueHandle('bad');
    const res = await json('/v1/auth/register', { body: { handle, displayName: 'x', password: 'short', deviceName: 'x' } }, 400);
    expect(res.code).toBe('invalid_request');
    expect(res.issues[0].path).toEqual(['password']);
    const extra = await json('/v1/auth/register', { body: { handle, displayName: 'x', password: PASSWORD, deviceName: 'x', admin: true } }, 400);
    expect(extra.code).toBe('invalid_request');
    expect(await env.DB.prepare('SELECT 1 FROM users WHERE handle = ?').bind(handle).first()).toBeNull();
  });
});
