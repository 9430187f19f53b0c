/**
 * Every HttpApi call ends by its deadline, even when the runtime's fetch does not honour
 * the abort: Node's fetch can leave a body read pending for good when the abort lands
 * while the body streams in (nodejs/node#56917). Here fetch is a double that never ends
 * by itself and ignores its signal, as that defect does. A call that outlives its
 * deadline fails as `network`, which every caller retries; a caller's own abort ends it
 * at once.
 */
import { describe, expect, it } from 'vitest';
import { ChatError } from '../../src/client/errors.js';
import { HttpApi, type FetchLike } from '../../src/client/http.js';

const SESSION = {
  user: { id: 'u_alice', handle: 'alice', displayName: 'Alice' },
  deviceId: 'd_phone',
  accessToken: 'token',
  accessTokenExpiresAt: Date.now() + 3_600_000,
  refreshToken: 'refresh',
  refreshTokenExpiresAt: Date.now() + 86_400_000,
};

/** Headers arrive; the body never does, and aborting the signal changes nothing. */
const bodyNeverEnds: FetchLike = async () => new Response(new ReadableStream({ start: () => undefined }), { status: 201, headers: { 'content-type': 'application/json' } });
/** No answer at all, abort or not. */
const neverAnswers: FetchLike = () => new Promise<Response>(() => undefined);

function api(fetchFn: FetchLike): HttpApi {
  return new HttpApi('http://127.0.0.1:1', fetchFn, () => undefined, { session: SESSION, timeoutMs: 60 });
}

async function outcome(call: Promise<unknown>): Promise<{ code: string; ms: number }> {
  const started = Date.now();
  const settled = await Promise.race([
    call.then(
      () => 'answered',
      (error: unknown) => (error instanceof ChatError ? error.code : `not a ChatError: ${String(error)}`),
    ),
    new Promise<string>((resolve) => setTimeout(() => resolve('still pending after 2 s'), 2_000)),
  ]);
  return { code: settled, ms: Date.now() - started };
}

describe('HttpApi deadlines', () => {
  it('a body that never ends fails the call as `network` at its deadline', async () => {
    const result = await outcome(api(bodyNeverEnds).request('POST', '/conversations/c/messages', { body: { cmid: 'x' } }));
    expect(result.code).toBe('network');
    expect(result.ms).toBeLessThan(1_000);
  });

  it('a fetch that never answers fails as `network` at the call deadline, or a longer one it was given', async () => {
    expect((await outcome(api(neverAnswers).request('GET', '/me'))).code).toBe('network');
    const held = await outcome(api(neverAnswers).request('GET', '/inbox/poll', { timeoutMs: 300 }));
    expect(held.code).toBe('network');
    expect(held.ms).toBeGreaterThanOrEqual(250);
  });

  it('a stream that never opens, and a reachability probe that never answers, end at the deadline too', async () => {
    const opening = await outcome(api(neverAnswers).openStream('/conversations/c/stream', {}, new AbortController().signal));
    expect(opening.code).toBe('network');
    expect(await Promise.race([api(neverAnswers).reachable(), new Promise((resolve) => setTimeout(() => resolve('still pending after 2 s'), 2_000))])).toBe(false);
  });

  it("the caller's abort ends the call at once", async () => {
    const controller = new AbortController();
    const call = api(neverAnswers).request('GET', '/conversations/c/poll', { timeoutMs: 60_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const result = await outcome(call);
    expect(result.code).toBe('network');
    expect(result.ms).toBeLessThan(1_000);
  });
});
