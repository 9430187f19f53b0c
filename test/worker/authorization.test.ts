/**
 * Authorization on every route and socket, as one table. Each row is one route; every row
 * is called as a non-member, a removed member, a revoked device and an anonymous caller.
 * Conversation routes must deny (a stable denial code) and account routes may answer the
 * caller about themselves; either way no reply may carry the target conversation's
 * message text, title or member ids (beyond ids the request itself named), and nothing of
 * the conversation may change. A new route is one more row.
 * Public by design, and so not here: GET /healthz, GET /readyz, GET /v1/openapi.json,
 * GET /docs, GET /v1/push/vapid-public-key, and register/login/refresh (they
 * authenticate rather than require authentication). The operator's route denies every user.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { exports } from 'cloudflare:workers';
import { app } from '../../src/index.js';
import { BASE, call, createGroup, json, registerUser, ticket } from './helpers.js';
import { uploadWhole } from './media-helpers.js';
import { LANDSCAPE_PNG } from '../fixtures/images.js';
import { WS_BEARER_PREFIX, WS_SUBPROTOCOL, type Session } from '../../src/protocol/index.js';

interface World {
  id: string;
  seq: number;
  /** An end-to-end encrypted group with the same members, and its message's seq. */
  e2eId: string;
  e2eSeq: number;
  mediaId: string;
  alice: Session;
  bob: Session;
  /** Someone outside the conversation, to look up. */
  stranger: Session;
  /** What must never leak: message text, title, member ids. */
  secrets: string[];
}

type Caller = { name: string; token: string | null; ticket: () => Promise<string | null> };

interface Reply {
  /** HTTP status, or the socket's close code. */
  status: number;
  code: string | null;
  text: string;
  /** What the request itself said (ids named there are not a leak). */
  request: string;
}

type Scope = 'conversation' | 'account' | 'operator';
interface Row {
  name: string;
  scope: Scope;
  run: (w: World, c: Caller) => Promise<Reply>;
}

/** `route` is the route as src/index.ts declares it ("GET /v1/conversations/:id"); `path` fills it in. */
function http(scope: Scope, route: string, path: (w: World) => string, body?: (w: World) => unknown): Row {
  const method = route.split(' ')[0]!;
  return {
    name: route,
    scope,
    async run(w, c) {
      const p = path(w);
      const b = body?.(w);
      const res = await call(p, { method, ...(c.token ? { token: c.token } : {}), ...(b === undefined ? {} : { body: b }) });
      const text = await res.text();
      let code: string | null = null;
      try {
        code = (JSON.parse(text) as { code?: string }).code ?? null;
      } catch {
        code = null;
      }
      return { status: res.status, code, text, request: p + JSON.stringify(b ?? '') };
    },
  };
}

/** A socket route, authenticated by a ticket in the URL or (`bearer`) the access token as a subprotocol. */
function socket(scope: Scope, route: string, path: (w: World) => string, auth: 'ticket' | 'bearer' = 'ticket'): Row {
  return {
    name: auth === 'ticket' ? route : `${route} (bearer)`,
    scope,
    async run(w, c) {
      const t = auth === 'ticket' ? await c.ticket() : null;
      const p = `${path(w)}${t ? `?ticket=${t}` : ''}`;
      const protocols: Record<string, string> = auth === 'bearer' && c.token ? { 'sec-websocket-protocol': `${WS_SUBPROTOCOL}, ${WS_BEARER_PREFIX}${c.token}` } : {};
      const res = await exports.default.fetch(`${BASE}${p}`, { headers: { upgrade: 'websocket', ...protocols } });
      if (res.status !== 101) return { status: res.status, code: null, text: await res.text(), request: p };
      const ws = res.webSocket!;
      const frames: string[] = [];
      const closed = new Promise<number>((resolve) => {
        ws.addEventListener('message', (e) => {
          frames.push(e.data as string);
          // An accepted socket: once it has said its first things, this caller is done.
          if (frames.some((f) => f.includes('"caught_up"') || f.includes('"ready"'))) setTimeout(() => ws.close(1000, 'done'), 200);
        });
        ws.addEventListener('close', (e) => resolve(e.code));
        setTimeout(() => resolve(0), 5_000);
      });
      ws.accept();
      const code = await closed;
      const error = frames.map((f) => JSON.parse(f) as { type: string; code?: string }).find((f) => f.type === 'error');
      return { status: code, code: error?.code ?? null, text: frames.join('\n'), request: p };
    },
  };
}

/**
 * A streaming route (Server-Sent Events): an accepted stream never ends by itself, so the
 * reply is what arrived in its first moments, then the stream is cancelled.
 */
function stream(scope: Scope, route: string, path: (w: World) => string): Row {
  return {
    name: route,
    scope,
    async run(_w, c) {
      const p = path(_w);
      const res = await call(p, c.token ? { token: c.token } : {});
      const reader = res.body?.getReader();
      let text = '';
      if (reader) {
        const first = await Promise.race([reader.read(), new Promise<null>((resolve) => setTimeout(() => resolve(null), 1_000))]);
        if (first && !first.done) text = new TextDecoder().decode(first.value);
        await reader.cancel();
      }
      let code: string | null = null;
      try {
        code = (JSON.parse(text) as { code?: string }).code ?? null;
      } catch {
        code = null;
      }
      return { status: res.status, code, text, request: p };
    },
  };
}

const text = (t: string) => ({ cmid: crypto.randomUUID(), content: { type: 'text', text: t } });
/** An envelope with an entry for Bob's device (an id the request names itself). */
const sealed = (w: World) => ({ type: 'encrypted', scheme: 'pairwise', body: 'c2VhbGVk', entries: [{ userId: w.bob.user.id, deviceId: w.bob.deviceId, kind: 'message', data: 'Yg' }] });

/** A well-formed key upload (random bytes of libsignal's sizes: the server checks shapes only). */
function keyUpload() {
  const b64 = (n: number) => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(n)))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const signed = (bytes: number) => ({ keyId: 1, publicKey: b64(bytes), signature: b64(64) });
  return { registrationId: 1, identityKey: b64(33), signedPreKey: signed(33), pqLastResortPreKey: signed(1_569), oneTimePreKeys: [{ keyId: 2, publicKey: b64(33) }] };
}

/** Every route and socket. */
const ROUTES: Row[] = [
  http('conversation', 'GET /v1/conversations/:id', (w) => `/v1/conversations/${w.id}`),
  http('conversation', 'GET /v1/conversations/:id/members', (w) => `/v1/conversations/${w.id}/members`),
  http('conversation', 'POST /v1/conversations/:id/members', (w) => `/v1/conversations/${w.id}/members`, (w) => ({ userId: w.bob.user.id })),
  http('conversation', 'PATCH /v1/conversations/:id/members/:userId', (w) => `/v1/conversations/${w.id}/members/${w.bob.user.id}`, () => ({ role: 'admin' })),
  http('conversation', 'DELETE /v1/conversations/:id/members/:userId', (w) => `/v1/conversations/${w.id}/members/${w.bob.user.id}`),
  http('conversation', 'GET /v1/conversations/:id/events', (w) => `/v1/conversations/${w.id}/events?after=0`),
  http('conversation', 'POST /v1/conversations/:id/messages', (w) => `/v1/conversations/${w.id}/messages`, () => text('intruder')),
  http('conversation', 'PATCH /v1/conversations/:id/messages/:seq', (w) => `/v1/conversations/${w.id}/messages/${w.seq}`, () => ({ content: { type: 'text', text: 'x' } })),
  // An end-to-end encrypted envelope (issue 17): refused as any send is, before its content is looked at (no hint whether the conversation is encrypted).
  http('conversation', 'POST /v1/conversations/:id/messages', (w) => `/v1/conversations/${w.id}/messages`, (w) => ({ cmid: crypto.randomUUID(), content: sealed(w) })),
  http('conversation', 'PATCH /v1/conversations/:id/messages/:seq', (w) => `/v1/conversations/${w.id}/messages/${w.seq}`, (w) => ({ content: sealed(w) })),
  http('conversation', 'DELETE /v1/conversations/:id/messages/:seq', (w) => `/v1/conversations/${w.id}/messages/${w.seq}?scope=everyone`),
  http('conversation', 'POST /v1/conversations/:id/messages/:seq/reactions', (w) => `/v1/conversations/${w.id}/messages/${w.seq}/reactions`, () => ({ emoji: '👍' })),
  http('conversation', 'GET /v1/conversations/:id/messages/:seq/versions', (w) => `/v1/conversations/${w.id}/messages/${w.seq}/versions`),
  http('conversation', 'GET /v1/conversations/:id/messages/:seq/receipts', (w) => `/v1/conversations/${w.id}/messages/${w.seq}/receipts`),
  http('conversation', 'GET /v1/conversations/:id/receipts', (w) => `/v1/conversations/${w.id}/receipts`),
  http('conversation', 'POST /v1/conversations/:id/read', (w) => `/v1/conversations/${w.id}/read`, (w) => ({ seq: w.seq })),
  http('conversation', 'PATCH /v1/conversations/:id/settings', (w) => `/v1/conversations/${w.id}/settings`, () => ({ privateReads: true })),
  http('conversation', 'GET /v1/conversations/:id/search', (w) => `/v1/conversations/${w.id}/search?q=secret`),
  socket('conversation', 'GET /v1/conversations/:id/ws', (w) => `/v1/conversations/${w.id}/ws`),
  socket('conversation', 'GET /v1/conversations/:id/ws', (w) => `/v1/conversations/${w.id}/ws`, 'bearer'),
  stream('conversation', 'GET /v1/conversations/:id/stream', (w) => `/v1/conversations/${w.id}/stream?after=0`),
  http('conversation', 'GET /v1/conversations/:id/poll', (w) => `/v1/conversations/${w.id}/poll?after=0&timeoutMs=1`),
  http('conversation', 'POST /v1/conversations/:id/typing', (w) => `/v1/conversations/${w.id}/typing`, () => ({ state: 'start' })),
  http('conversation', 'POST /v1/media', () => '/v1/media', (w) => ({ conversationId: w.id, contentType: 'image/png', size: 10, sha256: 'a'.repeat(64) })),
  http('conversation', 'GET /v1/media/:id', (w) => `/v1/media/${w.mediaId}`),
  http('conversation', 'GET /v1/media/:id/thumbnail', (w) => `/v1/media/${w.mediaId}/thumbnail`),
  http('conversation', 'GET /v1/media/:id/info', (w) => `/v1/media/${w.mediaId}/info`),
  http('conversation', 'PUT /v1/media/upload/:id', (w) => `/v1/media/upload/${w.mediaId}`),
  http('conversation', 'PUT /v1/media/upload/:id/parts/:n', (w) => `/v1/media/upload/${w.mediaId}/parts/1`),
  http('conversation', 'GET /v1/media/upload/:id/status', (w) => `/v1/media/upload/${w.mediaId}/status`),
  http('conversation', 'POST /v1/media/upload/:id/complete', (w) => `/v1/media/upload/${w.mediaId}/complete`),
  http('conversation', 'POST /v1/reports', () => '/v1/reports', (w) => ({ kind: 'message', conversationId: w.id, seq: w.seq, reason: 'x' })),
  // The same routes on an end-to-end encrypted conversation: the ciphertext is a secret too.
  http('conversation', 'GET /v1/conversations/:id', (w) => `/v1/conversations/${w.e2eId}`),
  http('conversation', 'GET /v1/conversations/:id/events', (w) => `/v1/conversations/${w.e2eId}/events?after=0`),
  http('conversation', 'POST /v1/conversations/:id/messages', (w) => `/v1/conversations/${w.e2eId}/messages`, (w) => ({ cmid: crypto.randomUUID(), content: sealed(w) })),
  http('conversation', 'PATCH /v1/conversations/:id/messages/:seq', (w) => `/v1/conversations/${w.e2eId}/messages/${w.e2eSeq}`, (w) => ({ content: sealed(w) })),
  http('conversation', 'GET /v1/conversations/:id/messages/:seq/versions', (w) => `/v1/conversations/${w.e2eId}/messages/${w.e2eSeq}/versions`),
  http('conversation', 'GET /v1/conversations/:id/search', (w) => `/v1/conversations/${w.e2eId}/search?q=secret`),
  socket('conversation', 'GET /v1/conversations/:id/ws', (w) => `/v1/conversations/${w.e2eId}/ws`),
  socket('conversation', 'GET /v1/conversations/:id/ws', (w) => `/v1/conversations/${w.e2eId}/ws`, 'bearer'),
  stream('conversation', 'GET /v1/conversations/:id/stream', (w) => `/v1/conversations/${w.e2eId}/stream?after=0`),
  http('conversation', 'GET /v1/conversations/:id/poll', (w) => `/v1/conversations/${w.e2eId}/poll?after=0&timeoutMs=1`),
  http('account', 'GET /v1/conversations', () => '/v1/conversations'),
  http('account', 'POST /v1/conversations', () => '/v1/conversations', (w) => ({ kind: 'group', title: 'mine', memberIds: [w.alice.user.id] })),
  http('account', 'POST /v1/conversations', () => '/v1/conversations', (w) => ({ kind: 'group', title: 'mine', memberIds: [w.alice.user.id], encrypted: true })),
  http('account', 'GET /v1/search', () => '/v1/search?q=secret'),
  socket('account', 'GET /v1/inbox/ws', () => '/v1/inbox/ws'),
  socket('account', 'GET /v1/inbox/ws', () => '/v1/inbox/ws', 'bearer'),
  stream('account', 'GET /v1/inbox/events', () => '/v1/inbox/events?cursor=0'),
  http('account', 'GET /v1/inbox/poll', () => '/v1/inbox/poll?cursor=0&timeoutMs=1'),
  http('account', 'POST /v1/inbox/ack', () => '/v1/inbox/ack', () => ({ cursor: 0 })),
  http('account', 'POST /v1/presence/query', () => '/v1/presence/query', (w) => ({ userIds: [w.alice.user.id] })),
  http('account', 'PUT /v1/presence/settings', () => '/v1/presence/settings', () => ({ hideLastSeen: true })),
  http('account', 'GET /v1/users/me', () => '/v1/users/me'),
  http('account', 'GET /v1/users/:userId', (w) => `/v1/users/${w.alice.user.id}`),
  http('account', 'GET /v1/users/by-handle/:handle', (w) => `/v1/users/by-handle/${w.stranger.user.handle}`),
  http('account', 'GET /v1/devices', () => '/v1/devices'),
  http('account', 'PUT /v1/keys', () => '/v1/keys', () => keyUpload()),
  http('account', 'POST /v1/keys/prekeys', () => '/v1/keys/prekeys', () => ({ oneTimePreKeys: [{ keyId: 9, publicKey: 'BQ' }] })),
  http('account', 'GET /v1/keys/status', () => '/v1/keys/status'),
  http('account', 'GET /v1/users/:userId/keys', (w) => `/v1/users/${w.alice.user.id}/keys`),
  http('account', 'POST /v1/users/:userId/keys/claim', (w) => `/v1/users/${w.alice.user.id}/keys/claim`, () => ({})),
  http('account', 'DELETE /v1/devices/:deviceId', () => '/v1/devices/d_not_mine'),
  http('account', 'POST /v1/push/subscriptions', () => '/v1/push/subscriptions', () => ({ endpoint: 'https://push.example/x', keys: { p256dh: 'x', auth: 'x' } })),
  http('account', 'GET /v1/push/subscriptions', () => '/v1/push/subscriptions'),
  http('account', 'DELETE /v1/push/subscriptions', () => '/v1/push/subscriptions'),
  http('account', 'GET /v1/blocks', () => '/v1/blocks'),
  http('account', 'PUT /v1/blocks/:userId', (w) => `/v1/blocks/${w.alice.user.id}`),
  http('account', 'DELETE /v1/blocks/:userId', (w) => `/v1/blocks/${w.alice.user.id}`),
  http('account', 'POST /v1/reports', () => '/v1/reports', (w) => ({ kind: 'user', userId: w.alice.user.id, reason: 'x' })),
  http('account', 'POST /v1/auth/tickets', () => '/v1/auth/tickets'),
  http('operator', 'GET /v1/admin/stats', () => '/v1/admin/stats'),
  // Last: it signs the caller's device out.
  http('account', 'POST /v1/auth/logout', () => '/v1/auth/logout'),
];

/** Routes anyone may call: they authenticate (or are public by design). */
const PUBLIC = new Set(['GET /healthz', 'GET /readyz', 'GET /v1/openapi.json', 'GET /docs', 'GET /v1/push/vapid-public-key', 'POST /v1/auth/register', 'POST /v1/auth/login', 'POST /v1/auth/refresh']);

const DENIALS = new Set(['unauthenticated', 'invalid_token', 'device_revoked', 'invalid_ticket', 'forbidden', 'conversation_not_found', 'media_not_found', 'not_found', 'invalid_upload_url']);

let world: World;
let callers: Caller[];
let before: string;

async function snapshot(w: World): Promise<string> {
  const parts = await Promise.all(
    [w.id, w.e2eId].map(async (id) => {
      const info = await json(`/v1/conversations/${id}`, { token: w.alice.accessToken }, 200);
      const history = await json(`/v1/conversations/${id}/events?after=0`, { token: w.alice.accessToken }, 200);
      return { members: info.conversation.members, events: history.events };
    }),
  );
  return JSON.stringify(parts);
}

beforeAll(async () => {
  const [alice, bob, carol, dave, eve] = [
    await registerUser('alice'),
    await registerUser('bob'),
    await registerUser('carol'),
    await registerUser('dave'),
    await registerUser('eve'),
  ];
  const title = `title-${crypto.randomUUID()}`;
  const id = await createGroup(alice, [bob, carol, dave], title);
  const secret = `secret-${crypto.randomUUID()}`;
  const sent = await json(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: text(secret) }, 201);
  // Alice has keys: the key rows read and claim real ones.
  expect((await call('/v1/keys', { token: alice.accessToken, method: 'PUT', body: keyUpload() })).status).toBe(200);
  const media = await uploadWhole(alice, id, LANDSCAPE_PNG, 'image/png');
  await json(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: crypto.randomUUID(), content: { type: 'media', mediaId: media.mediaId } } }, 201);
  // Carol is removed; Dave's laptop is signed out (its token still has a valid signature).
  await call(`/v1/conversations/${id}/members/${carol.user.id}`, { token: alice.accessToken, method: 'DELETE' });
  const laptop = await json<Session>('/v1/auth/login', { body: { handle: dave.user.handle, password: 'correct horse battery', deviceName: 'laptop' } }, 200);
  const staleTickets = [await ticket(laptop), await ticket(laptop)];
  await call(`/v1/devices/${laptop.deviceId}`, { token: dave.accessToken, method: 'DELETE' });
  const e2eTitle = `e2e-title-${crypto.randomUUID()}`;
  const e2eId = (await json('/v1/conversations', { token: alice.accessToken, body: { kind: 'group', title: e2eTitle, memberIds: [bob.user.id, carol.user.id, dave.user.id], encrypted: true } }, 201)).conversation.id;
  const cipher = `c${crypto.randomUUID().replace(/-/g, '')}`;
  const envelope = { type: 'encrypted', scheme: 'pairwise', body: cipher, entries: [{ userId: bob.user.id, deviceId: bob.deviceId, kind: 'message', data: `${cipher}x` }] };
  const e2eSent = await json(`/v1/conversations/${e2eId}/messages`, { token: alice.accessToken, body: { cmid: crypto.randomUUID(), content: envelope } }, 201);
  await call(`/v1/conversations/${e2eId}/members/${carol.user.id}`, { token: alice.accessToken, method: 'DELETE' });
  world = {
    id,
    seq: sent.seq,
    e2eId,
    e2eSeq: e2eSent.seq,
    mediaId: media.mediaId,
    alice,
    bob,
    stranger: await registerUser('frank'),
    secrets: [secret, title, e2eTitle, cipher, alice.user.id, bob.user.id, dave.user.id],
  };
  callers = [
    { name: 'non-member', token: eve.accessToken, ticket: () => ticket(eve) },
    { name: 'removed member', token: carol.accessToken, ticket: () => ticket(carol) },
    { name: 'revoked device', token: laptop.accessToken, ticket: async () => staleTickets.pop() ?? null },
    { name: 'anonymous', token: null, ticket: async () => null },
  ];
  before = await snapshot(world);
}, 60_000);

describe('authorization on every route and socket', () => {
  for (const caller of ['non-member', 'removed member', 'revoked device', 'anonymous']) {
    it(`as a ${caller}: denied where it must be, and zero data of the conversation anywhere`, async () => {
      const as = callers.find((c) => c.name === caller)!;
      const failures: string[] = [];
      for (const row of ROUTES) {
        const reply = await row.run(world, as);
        const mustDeny = row.scope !== 'account' || caller === 'revoked device' || caller === 'anonymous';
        const denied = reply.code !== null && DENIALS.has(reply.code) && [401, 403, 404, 4001, 4003, 4004].includes(reply.status);
        if (mustDeny && !denied) failures.push(`${row.name}: expected a denial, got ${reply.status} ${reply.text.slice(0, 160)}`);
        if (reply.status >= 500 && reply.status < 1000) failures.push(`${row.name}: ${reply.status}`);
        for (const secret of world.secrets) {
          if (!reply.request.includes(secret) && reply.text.includes(secret)) failures.push(`${row.name}: leaked ${secret}`);
        }
      }
      expect(failures).toEqual([]);
      expect(await snapshot(world)).toBe(before);
    });
  }

  it('has a row for every route the app declares', () => {
    const declared = new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`));
    const covered = new Set([...ROUTES.map((r) => r.name), ...PUBLIC]);
    expect([...declared].filter((r) => !covered.has(r))).toEqual([]);
  });
});
