/**
 * Every response carries an `X-Request-Id`, also in problem bodies; an offered id is kept
 * only when it is a valid protocol id (1-64 of A-Z a-z 0-9 _ -).
 */
import { describe, expect, it } from 'vitest';
import { call, registerUser } from './helpers.js';

describe('request ids', () => {
  it('keeps a valid offered id, on a success, a problem and a stream alike', async () => {
    const alice = await registerUser('alice');
    const ok = await call('/v1/users/me', { token: alice.accessToken, headers: { 'x-request-id': 'req_one-1' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-request-id')).toBe('req_one-1');
    const problem = await call('/v1/nowhere', { headers: { 'x-request-id': 'req_two-2' } });
    expect(problem.headers.get('x-request-id')).toBe('req_two-2');
    expect((await problem.json<{ requestId: string }>()).requestId).toBe('req_two-2');
    const stream = await call('/v1/inbox/events', { token: alice.accessToken, headers: { 'x-request-id': 'req_three' } });
    expect(stream.headers.get('x-request-id')).toBe('req_three');
    await stream.body?.cancel();
  });

  it('replaces an offered id that is not a valid id with a fresh one', async () => {
    for (const offered of ['has=padding', 'x'.repeat(65), 'with space', 'semi;colon']) {
      const res = await call('/v1/nowhere', { headers: { 'x-request-id': offered } });
      const id = res.headers.get('x-request-id');
      expect(id, offered).not.toBe(offered);
      expect(id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
      expect((await res.json<{ requestId: string }>()).requestId).toBe(id);
    }
    const none = await call('/v1/nowhere');
    expect(none.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
