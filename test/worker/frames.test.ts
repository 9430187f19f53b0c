import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { call, createDirect, json, openWindow, registerUser, ticket, upgrade } from './helpers.js';
import { LIMITS } from '../../src/protocol/index.js';
import { signConnectTicket } from '../../src/auth/tokens.js';

const text = (t: string) => ({ type: 'text', text: t });

/** Everything stored by a conversation, to prove a bad input changed nothing. */
async function snapshot(id: string) {
  return runInDurableObject(env.CONVERSATIONS.getByName(id), (_i, state) => ({
    events: state.storage.sql.exec('SELECT * FROM events ORDER BY seq').toArray(),
    members: state.storage.sql.exec('SELECT * FROM members ORDER BY user_id').toArray(),
  }));
}

describe('bad frames on a chat-window socket', () => {
  const cases: [string, string, string][] = [
    ['malformed JSON', '{"type":"send",', 'invalid_json'],
    ['not an object', '[1,2,3]', 'invalid_request'],
    ['unknown frame type', JSON.stringify({ type: 'launch_missiles', rid: 'r1' }), 'unknown_frame_type'],
    ['missing type', JSON.stringify({ cmid: 'abcdefgh12' }), 'unknown_frame_type'],
    ['wrong field type', JSON.stringify({ type: 'send', rid: 'r2', cmid: 12345678, content: text('x') }), 'invalid_request'],
    ['unknown content type', JSON.stringify({ type: 'send', cmid: 'abcdefgh12', content: { type: 'html', text: '<b>' } }), 'invalid_request'],
    ['empty text', JSON.stringify({ type: 'send', cmid: 'abcdefgh12', content: text('') }), 'invalid_request'],
    ['oversized message', JSON.stringify({ type: 'send', cmid: 'abcdefgh13', content: text('x'.repeat(LIMITS.maxTextLength + 1)) }), 'invalid_request'],
    ['oversized frame', JSON.stringify({ type: 'send', cmid: 'abcdefgh14', content: text('x'.repeat(LIMITS.maxFrameBytes)) }), 'frame_too_large'],
    ['forged server fields', JSON.stringify({ type: 'send', cmid: 'abcdefgh15', content: text('x'), seq: 1, author: { userId: 'u_x', deviceId: 'd_x' } }), 'invalid_request'],
    ['unknown field in content', JSON.stringify({ type: 'send', cmid: 'abcdefgh16', content: { ...text('x'), bold: true } }), 'invalid_request'],
    ['bad cmid characters', JSON.stringify({ type: 'send', cmid: "'; DROP TABLE events;--", content: text('x') }), 'invalid_request'],
    ['too deep', `{"type":"send","cmid":"abcdefgh17","content":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`, 'json_too_deep'],
    ['history limit too large', JSON.stringify({ type: 'history', rid: 'h', limit: LIMITS.maxPageSize + 1 }), 'invalid_request'],
  ];

  it.each(cases.map(([name, frame, code]) => ({ name, frame, code })))('$name → $code; nothing stored changes and the socket still works', async ({ frame, code }) => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const socket = await openWindow(alice, id);
    socket.send({ type: 'send', cmid: crypto.randomUUID(), content: text('before') });
    await socket.next('ack');
    const before = await snapshot(id);

    socket.send(frame);
    const error = await socket.next('error');
    expect(error.code).toBe(code);
    expect(error.message.length).toBeGreaterThan(0);
    expect(await snapshot(id)).toEqual(before);

    // The socket is still usable.
    const cmid = crypto.randomUUID();
    socket.send({ type: 'send', cmid, content: text('after') });
    expect((await socket.next('ack', (a) => a.cmid === cmid)).seq).toBe(2);
    socket.close();
  });

  it('an error names the request it answers', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const socket = await openWindow(alice, await createDirect(alice, bob));
    socket.send({ type: 'send', rid: 'req-7', cmid: 'cmid-abc-123', content: text('') });
    expect(await socket.next('error')).toMatchObject({ rid: 'req-7', cmid: 'cmid-abc-123', code: 'invalid_request' });
    socket.ws.send(new Uint8Array([1, 2, 3]));
    expect((await socket.next('error', (e) => e.rid === undefined)).code).toBe('invalid_request');
    socket.close();
  });
});

describe('the text limit counts code points', () => {
  // 😀 is one code point and two UTF-16 code units: 4,000 of them are 8,000 code units.
  const emoji = (n: number) => '😀'.repeat(n);

  it('4,000 emoji are stored whole and quoted without splitting one; 4,001 are refused, over the socket and HTTP', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const socket = await openWindow(alice, id);
    const atLimit = emoji(LIMITS.maxTextLength);
    socket.send({ type: 'send', cmid: 'emoji-at-limit', content: text(atLimit) });
    expect((await socket.next('ack', (a) => a.cmid === 'emoji-at-limit')).seq).toBe(1);

    socket.send({ type: 'send', cmid: 'emoji-over-limit', content: text(emoji(LIMITS.maxTextLength + 1)) });
    expect(await socket.next('error', (e) => e.cmid === 'emoji-over-limit')).toMatchObject({ code: 'invalid_request' });
    const overHttp = await call(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: 'emoji-over-http', content: text(emoji(LIMITS.maxTextLength + 1)) } });
    expect(overHttp.status).toBe(400);
    expect((await overHttp.json<any>()).code).toBe('invalid_request');

    socket.send({ type: 'send', cmid: 'emoji-reply', content: text('yes'), replyToSeq: 1 });
    await socket.next('ack', (a) => a.cmid === 'emoji-reply');
    const history = await json(`/v1/conversations/${id}/events`, { token: bob.accessToken });
    expect(history.events.map((e: any) => e.seq)).toEqual([1, 2]);
    expect(history.events[0].content.text).toBe(atLimit);
    expect(history.events[1].replyTo.quote).toBe(emoji(LIMITS.maxQuoteLength));
    socket.close();
  });
});

describe('bad HTTP input', () => {
  it('gets a problem body with a stable code and stores nothing', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const path = `/v1/conversations/${id}/messages`;
    const bad: [string, RequestInit & { rawBody?: string }, number, string][] = [
      ['malformed JSON', { rawBody: '{"cmid":' }, 400, 'invalid_json'],
      ['wrong types', { rawBody: JSON.stringify({ cmid: 5, content: text('x') }) }, 400, 'invalid_request'],
      ['unknown field', { rawBody: JSON.stringify({ cmid: 'abcdefgh12', content: text('x'), seq: 9 }) }, 400, 'invalid_request'],
      ['oversized', { rawBody: JSON.stringify({ cmid: 'abcdefgh12', content: text('x'.repeat(LIMITS.maxFrameBytes)) }) }, 413, 'payload_too_large'],
    ];
    for (const [name, init, status, code] of bad) {
      const res = await call(path, { token: alice.accessToken, rawBody: init.rawBody, headers: { 'content-type': 'application/json' }, method: 'POST' });
      expect(res.status, name).toBe(status);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      const body = await res.json<any>();
      expect(body, name).toMatchObject({ code, status });
      expect(typeof body.requestId).toBe('string');
    }
    expect((await snapshot(id)).events).toEqual([]);
    const history = await json(`/v1/conversations/${id}/events?limit=1000`, { token: alice.accessToken }, 400);
    expect(history.code).toBe('invalid_request');
    expect((await json('/v1/nowhere', {}, 404)).code).toBe('not_found');
    expect((await json(`/v1/conversations/${'x'.repeat(200)}`, { token: alice.accessToken }, 400)).code).toBe('invalid_request');
  });
});

describe('socket authentication', () => {
  it('a connect ticket works once', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const t = await ticket(alice);
    const first = await upgrade(`/v1/conversations/${id}/ws?ticket=${t}`);
    await first.next('ready');
    const second = await upgrade(`/v1/conversations/${id}/ws?ticket=${t}`);
    expect((await second.waitClosed()).code).toBe(4001);
    expect(second.frames[0]).toMatchObject({ type: 'error', code: 'invalid_ticket' });
    first.close();
  });

  it('a ticket is refused when forged, expired, an access token, or its device was signed out; none of those spends it', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const refused = async (t: string) => {
      const socket = await upgrade(`/v1/conversations/${id}/ws?ticket=${encodeURIComponent(t)}`);
      return { close: (await socket.waitClosed()).code, code: (socket.frames[0] as { code?: string } | undefined)?.code };
    };
    const good = await ticket(alice);
    const [head, body, signature] = good.split('.');
    const forged = `${head}.${body}.${signature!.slice(0, -4)}AAAA`;
    expect(await refused(forged)).toEqual({ close: 4001, code: 'invalid_ticket' });
    expect(await refused(alice.accessToken)).toEqual({ close: 4001, code: 'invalid_ticket' });
    const stale = await signConnectTicket(env.AUTH_SECRET!, { userId: alice.user.id, deviceId: alice.deviceId }, Date.now() - 60_000);
    expect(await refused(stale.ticket)).toEqual({ close: 4001, code: 'invalid_ticket' });
    // The refusals above spent nothing: the good ticket still works, once.
    const first = await upgrade(`/v1/conversations/${id}/ws?ticket=${good}`);
    await first.next('ready');
    first.close();
    const afterSignOut = await ticket(alice);
    await json('/v1/auth/logout', { token: alice.accessToken, method: 'POST' }, 204);
    expect(await refused(afterSignOut)).toEqual({ close: 4004, code: 'device_revoked' });
  });

  it('a foreign Origin is refused; the own origin and allowlisted ones are accepted', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const foreign = await upgrade(`/v1/conversations/${id}/ws?ticket=${await ticket(alice)}`, { origin: 'https://evil.example' });
    expect((await foreign.waitClosed()).code).toBe(4003);
    expect(foreign.frames[0]).toMatchObject({ type: 'error', code: 'origin_not_allowed' });
    const allowed = env.ALLOWED_ORIGINS.split(',')[0]!;
    const own = await upgrade(`/v1/conversations/${id}/ws?ticket=${await ticket(alice)}`, { origin: allowed });
    await own.next('ready');
    own.close();
  });

  it('a ticket of a device that was signed out is refused', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const t = await ticket(alice);
    await json('/v1/auth/logout', { token: alice.accessToken, method: 'POST' }, 204);
    const socket = await upgrade(`/v1/conversations/${id}/ws?ticket=${t}`);
    expect((await socket.waitClosed()).code).toBeGreaterThanOrEqual(4000);
  });

  it('a plain GET to a socket endpoint is told to upgrade', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    expect((await json(`/v1/conversations/${id}/ws`, {}, 426)).code).toBe('upgrade_required');
  });
});

describe('browser-facing responses', () => {
  it('of data (every answer but the API reference page) load nothing, are never framed, sniffed or stored', async () => {
    const alice = await registerUser('alice');
    for (const [path, token] of [['/healthz'], ['/v1/users/me', alice.accessToken], ['/v1/users/me'], ['/v1/nowhere']] as const) {
      const res = await call(path, { token });
      expect(res.headers.get('content-security-policy'), path).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('strict-transport-security'), path).toMatch(/^max-age=\d+; includeSubDomains$/);
      expect(res.headers.get('cache-control'), path).toBe('no-store');
    }
  });

  it('keep what a route set for itself (a feed\'s caching, a download\'s policy)', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const stream = await call(`/v1/conversations/${id}/stream`, { token: alice.accessToken });
    expect(stream.headers.get('cache-control')).toBe('no-cache, no-transform');
    await stream.body?.cancel();
  });

  it('of the API reference page carry the page policy: scripts only from this origin', async () => {
    const res = await call('/docs');
    expect(res.headers.get('content-security-policy')).toMatch(/^default-src 'self'; script-src 'self' 'nonce-[^']+'/);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  });
});
