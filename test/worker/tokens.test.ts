/**
 * Access tokens (src/auth/tokens.ts): a verified token is remembered by this isolate until
 * it expires, so a device's every request does not pay the HMAC again; what it remembers
 * never outlives the token, is keyed by the token's exact text, and does not survive a
 * change of secret.
 */
import { describe, expect, it } from 'vitest';
import { signAccessToken, verifyAccessToken } from '../../src/auth/tokens.js';
import { LIFETIMES } from '../../src/limits.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
const claims = { userId: 'u_tokens', deviceId: 'd_tokens', accountCreatedAt: 1 };

async function refusal(promise: Promise<unknown>): Promise<{ code?: string; message?: string }> {
  return promise.then(
    () => ({}),
    (err: { code?: string; message?: string }) => ({ code: err.code, message: err.message }),
  );
}

describe('verifying access tokens', () => {
  it('answers the same claims again, and refuses the token once it expired though it was remembered', async () => {
    const now = Date.now();
    const { token, expiresAt } = await signAccessToken(SECRET, claims, now);
    expect(await verifyAccessToken(SECRET, token, now)).toEqual(claims);
    expect(await verifyAccessToken(SECRET, token, now + 1_000)).toEqual(claims);
    expect(await refusal(verifyAccessToken(SECRET, token, expiresAt + 1_000))).toMatchObject({ code: 'invalid_token', message: expect.stringMatching(/expired/) });
    expect(expiresAt - now).toBe(LIFETIMES.accessTokenMs);
  });

  it('trusts only the exact text it verified: a token with its signature changed is refused after the real one was remembered', async () => {
    const { token } = await signAccessToken(SECRET, claims);
    await verifyAccessToken(SECRET, token);
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    const forged = `${token.slice(0, -2)}${last}${token.at(-1)}`;
    expect(await refusal(verifyAccessToken(SECRET, forged))).toMatchObject({ code: 'invalid_token' });
  });

  it('does not carry a remembered token over to another secret (a rotation)', async () => {
    const { token } = await signAccessToken(SECRET, claims);
    await verifyAccessToken(SECRET, token);
    expect(await refusal(verifyAccessToken(`${SECRET}-rotated`, token))).toMatchObject({ code: 'invalid_token' });
  });
});
