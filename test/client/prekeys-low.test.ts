/**
 * A `prekeys_low` device event (the key directory's, for this device alone) reaches an app
 * as the client's `prekeysLow` event, never as an `inbox` update: apps that fold `inbox`
 * events into a conversation list keep seeing conversation events only.
 */
import { describe, expect, it } from 'vitest';
import { ChatClient, type InboxUpdate, type PreKeysLow } from '../../src/client/index.js';
import type { DeviceEvent, Session } from '../../src/protocol/index.js';

const session: Session = {
  user: { id: 'u_me', handle: 'me', displayName: 'me' },
  deviceId: 'd_me',
  accessToken: 'token',
  accessTokenExpiresAt: Date.now() + 3_600_000,
  refreshToken: 'refresh',
  refreshTokenExpiresAt: Date.now() + 3_600_000,
};

const sse = (...frames: object[]) => frames.map((f) => `data: ${JSON.stringify(f)}\n\n`).join('');

describe('prekeys_low on the device event stream', () => {
  it('is emitted as prekeysLow, and left out of inbox updates', async () => {
    const low: DeviceEvent = { kind: 'prekeys_low', cursor: 1, oneTimePreKeys: 19, pqOneTimePreKeys: 40 };
    const message: DeviceEvent = {
      kind: 'event',
      cursor: 2,
      conversationId: 'c_a',
      event: { type: 'message', seq: 1, ts: 1, author: { userId: 'u_peer', deviceId: 'd' }, cmid: 'cmid-0001', content: { type: 'text', text: 'hi' } },
    };
    const fetchFn = async (input: string | URL | Request) => {
      const url = String(input);
      if (url.endsWith('/inbox/ack')) return new Response(JSON.stringify({ cursor: 2 }), { headers: { 'content-type': 'application/json' } });
      // An open stream, as the service keeps it: the backlog, then nothing until the client closes it.
      const text = sse(
        { type: 'inbox_ready', userId: 'u_me', deviceId: 'd_me', ackedCursor: 0, lastCursor: 2 },
        { type: 'deliver', events: [low, message] },
        { type: 'caught_up', cursor: 2 },
      );
      const body = new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(new TextEncoder().encode(text)) });
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    };
    const client = new ChatClient({ baseUrl: 'http://chat.invalid', session, fetch: fetchFn, transport: 'sse' });
    const updates: InboxUpdate[] = [];
    const lows: PreKeysLow[] = [];
    client.on('inbox', (u) => updates.push(u));
    client.on('prekeysLow', (p) => lows.push(p));
    client.connect();
    await expect.poll(() => lows.length, { timeout: 5_000 }).toBe(1);
    await expect.poll(() => updates.some((u) => u.type === 'events'), { timeout: 5_000 }).toBe(true);
    client.close();
    expect(lows).toEqual([{ oneTimePreKeys: 19, pqOneTimePreKeys: 40 }]);
    const delivered = updates.flatMap((u) => (u.type === 'events' ? u.events : []));
    expect(delivered).toEqual([message]);
  });
});
