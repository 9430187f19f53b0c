/**
 * Operating the service: one request id on every log line of the Worker, handed to the
 * UserDO with its updates and on to the push job's log line; metrics (Analytics Engine
 * data points and this isolate's counters); readiness; the operator's statistics.
 */
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { env } from 'cloudflare:workers';
import { createExecutionContext } from 'cloudflare:test';
import { app } from '../../src/index.js';
import { snapshot } from '../../src/metrics.js';
import { base64url } from '../../src/ids.js';
import type { Env } from '../../src/env.js';
import type { UserUpdate } from '../../src/user/updates.js';
import { forwardUpgrade } from '../../src/routes/upgrade.js';
import { trace, withRequestId } from '../../src/log.js';
import { call, createGroup, json, openWindow, registerUser } from './helpers.js';
import type { Session } from '../../src/protocol/index.js';
import { openInbox, silentUsers } from './inbox-helpers.js';
import { patchUserDO } from './boundary-helpers.js';
import { UserDO } from '../../src/user/UserDO.js';
import { RELAY_DEFAULTS } from '../../src/conversation/relays.js';

const ADMIN = env.ADMIN_TOKEN!;

/** Every JSON line written to the console while a test runs. */
function captureLogs(): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const method of ['log', 'warn', 'error'] as const) {
    vi.spyOn(console, method).mockImplementation((line: unknown) => {
      try {
        lines.push(JSON.parse(String(line)));
      } catch {
        // not one of ours
      }
    });
  }
  return lines;
}

afterEach(() => vi.restoreAllMocks());

function fetchAs(overrides: Partial<Env>, path: string, init: RequestInit = {}): Promise<Response> {
  return Promise.resolve(app.fetch(new Request(`http://chat.test${path}`, init), { ...env, ...overrides } as Env, createExecutionContext()));
}

describe('request ids', () => {
  it("are on every line the Worker logs for a request, the client's own when it offers one", async () => {
    const lines = captureLogs();
    await fetchAs({ ENVIRONMENT: 'production' }, '/v1/users/me', { headers: { 'x-request-id': 'rid_worker_1' } });
    const line = lines.find((l) => l.event === 'config_invalid');
    expect(line?.requestId).toBe('rid_worker_1');
  });

  it('go with the Worker\'s calls to objects: an RPC argument, or a header on a forwarded upgrade', async () => {
    expect(trace()).toEqual({});
    expect(withRequestId('rid_rpc_7', trace)).toEqual({ rid: 'rid_rpc_7' });
    let forwarded: Headers | undefined;
    const target = { fetch: async (_url: string, init: RequestInit) => ((forwarded = new Headers(init.headers)), new Response(null)) };
    await withRequestId('rid_upgrade_9', () => forwardUpgrade(target, { userId: 'u_x', deviceId: 'd_x', tier: 'standard' }, 'https://user.internal/inbox'));
    expect(forwarded?.get('x-request-id')).toBe('rid_upgrade_9');
  });

  it('follow an HTTP send through the conversation object and the recipient\'s UserDO to the push job\'s log line', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    await subscribePush(bob.accessToken);
    const conversationId = await createGroup(alice, [bob]);
    const lines = captureLogs();
    const send = { method: 'POST', headers: { authorization: `Bearer ${alice.accessToken}`, 'content-type': 'application/json', 'x-request-id': 'rid_http_send_1' }, body: JSON.stringify({ cmid: 'trace-http-1', content: { type: 'text', text: 'hello' } }) };
    const res = await fetchAs({}, `/v1/conversations/${conversationId}/messages`, send);
    expect(res.status).toBe(201);
    const { seq } = await res.json<{ seq: number }>();
    // Bob has no device online: his UserDO, called by the conversation's fan-out, queues a push.
    await expect.poll(() => lines.find((l) => l.event === 'push_job_done' && l.conversationId === conversationId), { timeout: 10_000 }).toBeTruthy();
    expect(lines.find((l) => l.event === 'push_job_done' && l.conversationId === conversationId)).toMatchObject({ requestId: 'rid_http_send_1', userId: bob.user.id, seq, sent: 1 });
  });

  it('follow an update into the UserDO and its push job to the consumer\'s log line', async () => {
    const [bob, carol] = [await registerUser('bob'), await registerUser('carol')];
    await subscribePush(bob.accessToken);

    const lines = captureLogs();
    const conversationId = `g_trace${crypto.randomUUID().replaceAll('-', '')}`;
    const updates: UserUpdate[] = [
      { type: 'membership', conversationId, conversationKind: 'group', title: 'trace', peerId: null, role: 'member', seq: 0, ts: Date.now() },
      {
        type: 'events',
        conversationId,
        conversationKind: 'group',
        events: [{ type: 'message', seq: 1, ts: Date.now(), author: { userId: carol.user.id, deviceId: carol.deviceId }, cmid: 'trace-cmid-1', content: { type: 'text', text: 'hello' } }],
      },
    ];
    // As the ConversationDO's fan-out calls it (Bob has no device online, so a push is queued).
    await env.USERS.getByName(bob.user.id).apply(updates, { rid: 'rid_send_42' });
    await expect.poll(() => lines.find((l) => l.event === 'push_job_done' && l.conversationId === conversationId), { timeout: 10_000 }).toBeTruthy();
    const done = lines.find((l) => l.event === 'push_job_done' && l.conversationId === conversationId)!;
    expect(done).toMatchObject({ requestId: 'rid_send_42', userId: bob.user.id, seq: 1, sent: 1 });
  });
});

describe('request ids of socket frames', () => {
  it('a frame on a relay socket that fails is logged with an id of its own, and answered', async () => {
    const alice = await registerUser('alice');
    const silent = await silentUsers(RELAY_DEFAULTS.minMembers);
    const conversationId = await createGroup(alice, silent.map((id) => ({ user: { id } }) as Session), 'channel');
    const window = await openWindow(alice, conversationId);
    const restore = patchUserDO(alice.user.id, 'leaseSends', async () => {
      throw new Error('injected: lease refused');
    });
    const lines = captureLogs();
    try {
      window.send({ type: 'send', cmid: 'trace-relay-1', content: { type: 'text', text: 'hello' } });
      expect(await window.next('error')).toMatchObject({ code: 'internal', cmid: 'trace-relay-1' });
      const failed = lines.find((l) => l.event === 'frame_failed' && l.cmid === 'trace-relay-1');
      expect(failed).toMatchObject({ conversationId, requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    } finally {
      restore();
      window.close();
    }
  });

  it('a frame on an inbox socket that fails is logged with an id of its own, and answered', async () => {
    const alice = await registerUser('alice');
    const inbox = await openInbox(alice);
    const proto = UserDO.prototype as unknown as { ackEvents: (...args: unknown[]) => unknown };
    const original = proto.ackEvents;
    proto.ackEvents = async () => {
      throw new Error('injected: ack failed');
    };
    const lines = captureLogs();
    try {
      inbox.socket.send({ type: 'ack', cursor: 0 });
      const answer = await inbox.socket.next('error');
      expect(answer).toMatchObject({ code: 'internal' });
      expect(lines.find((l) => l.event === 'frame_failed' && l.userId === alice.user.id)).toMatchObject({ requestId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    } finally {
      proto.ackEvents = original;
      inbox.socket.close();
    }
  });
});

/** A Web Push subscription for the user, to the test's push receiver. */
async function subscribePush(token: string): Promise<void> {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits'])) as CryptoKeyPair;
  const p256dh = base64url(new Uint8Array((await crypto.subtle.exportKey('raw', pair.publicKey)) as ArrayBuffer));
  const endpoint = `${inject('pushReceiverUrl')}/push/trace-${crypto.randomUUID()}`;
  await json('/v1/push/subscriptions', { token, body: { endpoint, keys: { p256dh, auth: base64url(crypto.getRandomValues(new Uint8Array(16))) } } }, 204);
}

describe('metrics', () => {
  it('writes an Analytics Engine data point per send and per rejection, labelled by wire, outcome and code', async () => {
    const points: AnalyticsEngineDataPoint[] = [];
    const METRICS = { writeDataPoint: (p: AnalyticsEngineDataPoint) => void points.push(p) } as AnalyticsEngineDataset;
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    const send = { method: 'POST', headers: { authorization: `Bearer ${alice.accessToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ cmid: 'metric-cmid-1', content: { type: 'text', text: 'hi' } }) };
    expect((await fetchAs({ METRICS }, `/v1/conversations/${id}/messages`, send)).status).toBe(201);
    expect((await fetchAs({ METRICS }, `/v1/conversations/${id}/messages`, { ...send })).status).toBe(200);
    expect((await fetchAs({ METRICS }, '/v1/conversations/nope!/messages', { ...send })).status).toBe(400);
    expect(points.map((p) => p.blobs?.slice(0, 3))).toEqual([
      ['send', 'http', 'stored'],
      ['send', 'http', 'duplicate'],
      ['rejection', 'http', 'invalid_request'],
    ]);
    expect(points[2]!.blobs!.slice(3)).toEqual(['POST /v1/conversations/:id/messages', 'development']);
    expect(points.every((p) => p.indexes?.[0] === p.blobs?.[0] && p.doubles?.[0] === 1)).toBe(true);
    // No id, path or text in a label: the route is its pattern.
    expect(JSON.stringify(points)).not.toMatch(/nope|u_|g_|hi"/);
  });

  it('counts what happens inside the conversation object: chat-window sends and refusals, open windows, fan-out passes and their lag', async () => {
    // The objects write to the same binding; this isolate's counters are the Worker's own.
    const points: AnalyticsEngineDataPoint[] = [];
    vi.spyOn(env.METRICS, 'writeDataPoint').mockImplementation((p) => void points.push(p ?? {}));
    const of = (kind: string, label: string, detail = '') => points.filter((p) => p.blobs?.[0] === kind && p.blobs[1] === label && p.blobs[2] === detail);
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    const window = await openWindow(alice, id);
    expect(of('socket', 'chat_ws').map((p) => p.doubles?.[0])).toEqual([1]);
    const send = { type: 'send', cmid: 'metric-ws-1', content: { type: 'text', text: 'hi' } };
    window.send(send);
    window.send(send);
    window.send({ type: 'edit', rid: 'r-edit', targetSeq: 99, content: { type: 'text', text: 'no such message' } });
    await window.until((frames) => frames.some((f) => f.type === 'error' && f.rid === 'r-edit'), 'the refused edit');
    expect(of('send', 'ws', 'stored')).toHaveLength(1);
    expect(of('send', 'ws', 'duplicate')).toHaveLength(1);
    expect(of('rejection', 'ws', 'not_found').map((p) => p.blobs?.[3])).toEqual(['ws edit']);
    // The message reaches both members' objects in a pass; its value is the lag, acceptance to pass.
    await expect.poll(() => of('fanout', 'pass').length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(of('fanout', 'pass').every((p) => (p.doubles?.[0] ?? -1) >= 0 && (p.doubles?.[0] ?? Infinity) < 10_000)).toBe(true);
    window.close();
    await expect.poll(() => of('socket', 'chat_ws').map((p) => p.doubles?.[0]), { timeout: 10_000 }).toEqual([1, -1]);
    expect(JSON.stringify(points)).not.toMatch(/u_|g_|hi"/);
  });

  it('gauges queue depths: the conversation\'s outbox and lagging members after each drain, a user\'s device queue after each apply', async () => {
    const points: AnalyticsEngineDataPoint[] = [];
    vi.spyOn(env.METRICS, 'writeDataPoint').mockImplementation((p) => void points.push(p ?? {}));
    const depths = (queue: string) => points.filter((p) => p.blobs?.[0] === 'queue' && p.blobs[1] === queue).map((p) => p.doubles?.[0]);
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    // Bob's device becomes known to his queue, then reads nothing: what Alice sends waits for it.
    (await openInbox(bob)).close();
    for (let i = 0; i < 3; i++) await json(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: crypto.randomUUID(), content: { type: 'text', text: `m${i}` } } }, 201);
    await expect.poll(() => Math.max(0, ...depths('device_queue').map(Number)), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    // Every drain ends with both of the conversation's gauges; nothing waits once it is done.
    await expect.poll(() => depths('conversation_outbox').length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(depths('conversation_outbox').at(-1)).toBe(0);
    expect(depths('fanout_lag').at(-1)).toBe(0);
    expect(JSON.stringify(points)).not.toMatch(/u_|g_|m0/);
  });

  it('counts open event streams by wire, closed when the reader goes away', async () => {
    const alice = await registerUser('alice');
    const open = () => snapshot().counts['socket:inbox_sse'] ?? 0;
    const before = open();
    const res = await call('/v1/inbox/events', { token: alice.accessToken });
    const reader = res.body!.getReader();
    await reader.read();
    expect(open()).toBe(before + 1);
    await reader.cancel();
    await expect.poll(open).toBe(before);
  });
});

describe('readiness', () => {
  it('touches D1, R2 and a Durable Object, timed, and passes locally', async () => {
    const res = await call('/readyz');
    expect(res.status).toBe(200);
    const body = await res.json<{ ok: boolean; checks: Record<string, { ok: boolean; ms?: number }> }>();
    expect(body.ok).toBe(true);
    expect(Object.keys(body.checks)).toEqual(['config', 'd1', 'r2', 'durableObject']);
    for (const name of ['d1', 'r2', 'durableObject']) expect(body.checks[name]).toMatchObject({ ok: true, ms: expect.any(Number) });
  });

  it('fails, naming the settings, where a deployed environment is misconfigured (liveness still passes)', async () => {
    const res = await fetchAs({ ENVIRONMENT: 'staging' }, '/readyz');
    expect(res.status).toBe(503);
    const body = await res.json<{ ok: boolean; checks: { config: { ok: boolean; problems: string } } }>();
    expect(body.checks.config).toEqual({ ok: false, problems: expect.stringContaining('AUTH_SECRET (the development value)') });
    expect((await fetchAs({ ENVIRONMENT: 'staging' }, '/healthz')).status).toBe(200);
  });
});

describe('/v1/admin/stats', () => {
  it('is refused without the operator token, and closed when none is set', async () => {
    expect((await call('/v1/admin/stats')).status).toBe(401);
    expect((await call('/v1/admin/stats', { headers: { authorization: 'Bearer not-the-token' } })).status).toBe(403);
    const user = await registerUser('mallory');
    expect((await call('/v1/admin/stats', { token: user.accessToken })).status).toBe(403);
    const closed = await fetchAs({ ADMIN_TOKEN: undefined }, '/v1/admin/stats', { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(closed.status).toBe(403);
    expect((await closed.json<{ message: string }>()).message).toContain('no ADMIN_TOKEN');
  });

  it("summarises this isolate's counters and the database", async () => {
    await registerUser('counted');
    await call('/v1/conversations/nope!', { headers: { authorization: 'Bearer x' } });
    const stats = await json('/v1/admin/stats', { headers: { authorization: `Bearer ${ADMIN}` } }, 200);
    expect(stats.environment).toBe('development');
    expect(stats.database.users).toBeGreaterThan(0);
    expect(stats.isolate.counts['rejection:http:invalid_token']).toBeGreaterThan(0);
  });
});
