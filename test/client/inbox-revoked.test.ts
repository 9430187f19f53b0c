/**
 * A device signed out while its event stream is open over SSE gets an `error` frame
 * `device_revoked`; the SDK ends the stream for good at that frame, rather than
 * reconnecting and learning it again from the next request.
 */
import { describe, expect, it } from 'vitest';
import { HttpApi } from '../../src/client/http.js';
import { InboxStream, STREAM_TIMING_DEFAULTS } from '../../src/client/transports/inbox.js';
import { BACKOFF_DEFAULTS } from '../../src/client/backoff.js';
import { FALLBACK_DEFAULTS } from '../../src/client/transports/fallback.js';
import { KEEPALIVE_DEFAULTS, type WebSocketLike } from '../../src/client/transports/types.js';
import type { Session } from '../../src/protocol/index.js';

const session: Session = {
  user: { id: 'u_me', handle: 'me', displayName: 'me' },
  deviceId: 'd_me',
  accessToken: 'token',
  accessTokenExpiresAt: Date.now() + 3_600_000,
  refreshToken: 'refresh',
  refreshTokenExpiresAt: Date.now() + 3_600_000,
};

const sse = (...frames: object[]) => frames.map((f) => `data: ${JSON.stringify(f)}\n\n`).join('');

describe('the device event stream over SSE', () => {
  it('ends for good at a device_revoked frame, without opening the stream again', async () => {
    const requests: string[] = [];
    const fetchFn = async (input: string | URL | Request) => {
      const url = String(input);
      requests.push(url.replace('http://chat.invalid/v1', ''));
      if (url.endsWith('/inbox/ack')) return new Response(JSON.stringify({ cursor: 0 }), { headers: { 'content-type': 'application/json' } });
      const body = sse(
        { type: 'inbox_ready', userId: 'u_me', deviceId: 'd_me', ackedCursor: 0, lastCursor: 0 },
        { type: 'caught_up', cursor: 0 },
        { type: 'error', code: 'device_revoked', message: 'This device has been signed out.' },
      );
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    };
    const api = new HttpApi('http://chat.invalid', fetchFn, () => {}, { session });
    const stream = new InboxStream({
      api,
      WebSocket: class {} as unknown as WebSocketLike,
      order: ['sse'],
      forced: 'sse',
      backoff: { ...BACKOFF_DEFAULTS, initialDelayMs: 10, maxDelayMs: 10 },
      keepalive: KEEPALIVE_DEFAULTS,
      fallback: FALLBACK_DEFAULTS,
      timing: STREAM_TIMING_DEFAULTS,
    });
    const closed = new Promise<string>((resolve) => stream.on('signal', (s) => s.type === 'closed' && resolve(s.error.code)));
    stream.start();
    expect(await closed).toBe('device_revoked');
    await new Promise((r) => setTimeout(r, 100));
    expect(requests.filter((r) => r.startsWith('/inbox/events'))).toHaveLength(1);
    expect(stream.status.state).toBe('closed');
  });
});
