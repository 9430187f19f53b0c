/**
 * Web Push, end to end inside workerd: the real queue and consumer send to a receiver the
 * test run owns (test/worker/push-receiver.ts), and each test decrypts what arrived with
 * the private key of a browser-like subscription it made, and checks the VAPID signature.
 */
import { describe, expect, inject, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { importJWK, jwtVerify } from 'jose';
import worker from '../../src/index.js';
import { clearPushState, notifyOffline } from '../../src/push/index.js';
import { GENERIC_NOTIFICATION, type PushJob } from '../../src/push/jobs.js';
import { openBurst } from '../../src/push/bursts.js';
import { retryDelaySeconds } from '../../src/push/consumer.js';
import { PUSH } from '../../src/push/settings.js';
import { base64url } from '../../src/ids.js';
import { PushPayload, type Session } from '../../src/protocol/index.js';
import { createGroup, json, openWindow, quietPeriod, registerUser } from './helpers.js';
import { openInbox, sendBurst } from './inbox-helpers.js';
import type { ReceivedPush } from './push-receiver.js';

const RECEIVER = inject('pushReceiverUrl');
const PASSWORD = 'correct horse battery';

/** What a browser's PushManager.subscribe() creates: a key pair and auth secret it keeps, and the JSON it hands to the app. */
interface BrowserSubscription {
  inbox: string;
  json: { endpoint: string; expirationTime: null; keys: { p256dh: string; auth: string } };
  privateKey: CryptoKey;
  publicKey: Uint8Array;
  auth: Uint8Array;
}

async function browserSubscription(kind: 'ok' | 'gone' | 'down' = 'ok'): Promise<BrowserSubscription> {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits'])) as CryptoKeyPair;
  const publicKey = new Uint8Array((await crypto.subtle.exportKey('raw', pair.publicKey)) as ArrayBuffer);
  const auth = crypto.getRandomValues(new Uint8Array(16));
  const inbox = `${kind}-${crypto.randomUUID()}`;
  return {
    inbox,
    json: { endpoint: `${RECEIVER}/push/${inbox}`, expirationTime: null, keys: { p256dh: base64url(publicKey), auth: base64url(auth) } },
    privateKey: pair.privateKey,
    publicKey,
    auth,
  };
}

/** A valid key with one bit of y flipped: 65 bytes, prefix 0x04, and (all but surely) off the curve. */
function offCurve(publicKey: Uint8Array): Uint8Array {
  const bytes = publicKey.slice();
  bytes[64]! ^= 1;
  return bytes;
}

async function subscribe(session: Session, kind: 'ok' | 'gone' | 'down' = 'ok'): Promise<BrowserSubscription> {
  const sub = await browserSubscription(kind);
  await json('/v1/push/subscriptions', { token: session.accessToken, body: sub.json }, 204);
  return sub;
}

const fromBase64 = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

async function hkdf(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, bytes: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, key, bytes * 8));
}

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
};

/** The receiving side of RFC 8291 (what the browser does before the service worker sees the push). */
async function decrypt(push: ReceivedPush, sub: BrowserSubscription): Promise<unknown> {
  expect(push.headers['content-encoding']).toBe('aes128gcm');
  const body = fromBase64(push.body);
  // RFC 8188 header: salt(16) | record size(4) | key id length(1) | key id = sender's public key.
  const salt = body.slice(0, 16);
  const idLength = body[20]!;
  const senderKey = body.slice(21, 21 + idLength);
  const ciphertext = body.slice(21 + idLength);
  const sender = await crypto.subtle.importKey('raw', senderKey, { name: 'ECDH', namedCurve: 'P-256' }, false, []);
  // workers-types spells the ECDH member `$public`; the runtime, like the Web Crypto spec, reads `public`.
  const ecdh = { name: 'ECDH', public: sender } as unknown as SubtleCryptoDeriveKeyAlgorithm;
  const shared = new Uint8Array(await crypto.subtle.deriveBits(ecdh, sub.privateKey, 256));
  const enc = new TextEncoder();
  const ikm = await hkdf(sub.auth, shared, concat(enc.encode('WebPush: info\0'), sub.publicKey, senderKey), 32);
  const cek = await hkdf(salt, ikm, enc.encode('Content-Encoding: aes128gcm\0'), 16);
  const nonce = await hkdf(salt, ikm, enc.encode('Content-Encoding: nonce\0'), 12);
  const key = await crypto.subtle.importKey('raw', cek, 'AES-GCM', false, ['decrypt']);
  const padded = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce }, key, ciphertext));
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  expect(padded[end], 'last-record delimiter').toBe(2);
  return JSON.parse(new TextDecoder().decode(padded.slice(0, end)));
}

/** Checks the RFC 8292 `Authorization: vapid t=…, k=…` header against our public key. */
async function expectValidVapid(push: ReceivedPush): Promise<void> {
  const match = push.headers.authorization?.match(/^vapid t=([^,]+), k=([A-Za-z0-9_-]+)$/);
  expect(match, push.headers.authorization).toBeTruthy();
  const [, token, k] = match!;
  expect(k).toBe(env.VAPID_PUBLIC_KEY);
  const raw = fromBase64(k!.replace(/-/g, '+').replace(/_/g, '/'));
  const key = await importJWK({ kty: 'EC', crv: 'P-256', x: base64url(raw.slice(1, 33)), y: base64url(raw.slice(33)) }, 'ES256');
  const { payload, protectedHeader } = await jwtVerify(token!, key, { audience: RECEIVER, subject: env.VAPID_SUBJECT });
  expect(protectedHeader.alg).toBe('ES256');
  expect(payload.exp! - Date.now() / 1000).toBeLessThanOrEqual(24 * 60 * 60);
}

async function received(inbox: string): Promise<ReceivedPush[]> {
  return (await fetch(`${RECEIVER}/inbox/${inbox}`)).json<ReceivedPush[]>();
}

/** Waits until the inbox holds `count` pushes (the queue batches for up to 1 s). */
async function waitForPushes(inbox: string, count: number, timeoutMs = 10_000): Promise<ReceivedPush[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pushes = await received(inbox);
    if (pushes.length >= count) return pushes;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} push(es) in ${inbox}; got ${pushes.length}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A quiet period: long enough for any further queue batch to have been delivered (batch timeout is 1 s), for "no more pushes" checks. */
const noMorePushesWithin = () => quietPeriod(2_500);

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function job(session: Session, overrides: Partial<PushJob> = {}): PushJob {
  return {
    userId: session.user.id,
    conversationId: `g_${crypto.randomUUID().replace(/-/g, '')}`,
    conversationKind: 'group',
    conversationTitle: 'Climbing club',
    senderName: 'Bob',
    seq: 1,
    preview: 'See you at the wall at six?',
    e2e: false,
    ...overrides,
  };
}

async function subscriptionCount(deviceId: string): Promise<number> {
  const row = await env.DB.prepare('SELECT COUNT(*) AS n FROM push_subscriptions WHERE device_id = ?').bind(deviceId).first<{ n: number }>();
  return row!.n;
}

describe('push subscriptions', () => {
  it('hands out the VAPID public key a browser subscribes with, without login', async () => {
    const { publicKey } = await json('/v1/push/vapid-public-key', {}, 200);
    expect(publicKey).toBe(env.VAPID_PUBLIC_KEY);
    const raw = fromBase64(publicKey.replace(/-/g, '+').replace(/_/g, '/'));
    expect([raw.length, raw[0]]).toEqual([65, 4]);
  });

  it('registers, replaces and deletes this device\'s subscription', async () => {
    const alice = await registerUser('alice');
    expect((await json('/v1/push/subscriptions', { token: alice.accessToken }, 200)).subscription).toBeNull();

    const first = await subscribe(alice);
    const { subscription } = await json('/v1/push/subscriptions', { token: alice.accessToken }, 200);
    expect(subscription.endpoint).toBe(first.json.endpoint);

    const second = await subscribe(alice);
    expect((await json('/v1/push/subscriptions', { token: alice.accessToken }, 200)).subscription.endpoint).toBe(second.json.endpoint);
    expect(await subscriptionCount(alice.deviceId)).toBe(1);

    await json('/v1/push/subscriptions', { token: alice.accessToken, method: 'DELETE' }, 204);
    expect((await json('/v1/push/subscriptions', { token: alice.accessToken }, 200)).subscription).toBeNull();
    // Deleting again is not an error: the device has no subscription either way.
    await json('/v1/push/subscriptions', { token: alice.accessToken, method: 'DELETE' }, 204);
  });

  it('requires a signed-in device', async () => {
    const sub = await browserSubscription();
    expect((await json('/v1/push/subscriptions', { body: sub.json }, 401)).code).toBe('unauthenticated');
    expect((await json('/v1/push/subscriptions', { method: 'DELETE' }, 401)).code).toBe('unauthenticated');
    const alice = await registerUser('alice');
    await json('/v1/auth/logout', { token: alice.accessToken, method: 'POST' }, 204);
    expect((await json('/v1/push/subscriptions', { token: alice.accessToken, body: sub.json }, 401)).code).toBe('device_revoked');
  });

  it('rejects keys that are not a P-256 point and 16-byte secret, non-https endpoints and unknown fields', async () => {
    const alice = await registerUser('alice');
    const sub = await browserSubscription();
    const bad = [
      { body: { ...sub.json, keys: { ...sub.json.keys, p256dh: base64url(new Uint8Array(64)) } }, path: ['keys', 'p256dh'] },
      // The right length and prefix, but not on the curve: the coordinates must be decoded to tell.
      { body: { ...sub.json, keys: { ...sub.json.keys, p256dh: base64url(offCurve(sub.publicKey)) } }, path: ['keys', 'p256dh'] },
      { body: { ...sub.json, keys: { ...sub.json.keys, p256dh: base64url(Uint8Array.of(4, ...new Uint8Array(64))) } }, path: ['keys', 'p256dh'] },
      { body: { ...sub.json, keys: { ...sub.json.keys, p256dh: base64url(Uint8Array.of(4, ...new Uint8Array(64).fill(0xff))) } }, path: ['keys', 'p256dh'] },
      { body: { ...sub.json, keys: { ...sub.json.keys, auth: base64url(new Uint8Array(8)) } }, path: ['keys', 'auth'] },
      { body: { ...sub.json, endpoint: 'http://push.example.com/x' }, path: ['endpoint'] },
      { body: { ...sub.json, endpoint: 'ftp://push.example.com/x' }, path: ['endpoint'] },
      { body: { ...sub.json, extra: 1 }, path: [] },
    ];
    for (const { body, path } of bad) {
      const res = await json('/v1/push/subscriptions', { token: alice.accessToken, body }, 400);
      expect(res.code).toBe('invalid_request');
      expect(res.issues[0].path).toEqual(path);
    }
    expect(await subscriptionCount(alice.deviceId)).toBe(0);
  });

  it('moves an endpoint to the device that registered it last', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const sub = await browserSubscription();
    await json('/v1/push/subscriptions', { token: alice.accessToken, body: sub.json }, 204);
    await json('/v1/push/subscriptions', { token: bob.accessToken, body: sub.json }, 204);
    expect(await subscriptionCount(alice.deviceId)).toBe(0);
    expect(await subscriptionCount(bob.deviceId)).toBe(1);
  });
});

describe('notifyOffline', () => {
  it('sends exactly one decryptable push per conversation burst, to every device', async () => {
    const alice = await registerUser('alice', 'laptop');
    const phone = await json<Session>('/v1/auth/login', { body: { handle: alice.user.handle, password: PASSWORD, deviceName: 'phone' } }, 200);
    const [laptopSub, phoneSub] = [await subscribe(alice), await subscribe(phone)];

    const climbing = job(alice);
    const direct = job(alice, { conversationKind: 'direct', conversationTitle: null, senderName: 'Carol', preview: 'Lunch? 🍜' });
    const queued: boolean[] = [];
    for (let seq = 1; seq <= 5; seq++) queued.push(await notifyOffline(env, { ...climbing, seq, preview: `message ${seq}` }));
    for (let seq = 1; seq <= 3; seq++) queued.push(await notifyOffline(env, { ...direct, seq }));
    expect(queued).toEqual([true, false, false, false, false, true, false, false]);

    for (const sub of [laptopSub, phoneSub]) {
      const pushes = await waitForPushes(sub.inbox, 2);
      const payloads = await Promise.all(pushes.map((p) => decrypt(p, sub)));
      for (const p of payloads) expect(PushPayload.safeParse(p).success).toBe(true);
      expect(payloads).toContainEqual({
        v: 1, kind: 'message', conversationId: climbing.conversationId, seq: 1,
        title: 'Climbing club', body: 'Bob: message 1', tag: climbing.conversationId,
      });
      expect(payloads).toContainEqual({
        v: 1, kind: 'message', conversationId: direct.conversationId, seq: 1, title: 'Carol', body: 'Lunch? 🍜', tag: direct.conversationId,
      });
      for (const push of pushes) {
        await expectValidVapid(push);
        expect(push.headers.ttl).toBe(String(PUSH.ttlSeconds));
        expect(push.headers.urgency).toBe('high');
        expect(push.headers.topic).toMatch(/^[A-Za-z0-9_-]{32}$/);
        // Padded to the full record, so the push service cannot guess the preview's length.
        expect(fromBase64(push.body).length).toBe(4096);
      }
      // The Topic identifies the conversation to the push service without naming it.
      expect(new Set(pushes.map((p) => p.headers.topic)).size).toBe(2);
      expect(pushes.map((p) => p.headers.topic).join()).not.toContain(climbing.conversationId);
    }
    await noMorePushesWithin();
    expect((await received(laptopSub.inbox)).length).toBe(2);
    expect((await received(phoneSub.inbox)).length).toBe(2);
  });

  it('gives end-to-end encrypted conversations a generic text: no preview, no names', async () => {
    const alice = await registerUser('alice');
    const sub = await subscribe(alice);
    const secret = job(alice, { e2e: true, preview: null, conversationTitle: 'Surprise party', senderName: 'Mallory' });
    expect(await notifyOffline(env, secret)).toBe(true);
    const [push] = await waitForPushes(sub.inbox, 1);
    const payload = await decrypt(push!, sub);
    expect(payload).toEqual({ v: 1, kind: 'message', conversationId: secret.conversationId, seq: 1, tag: secret.conversationId, ...GENERIC_NOTIFICATION });
    expect(JSON.stringify(payload)).not.toMatch(/Surprise|Mallory/);
  });

  it('ignores a retried event, and notifies again once the collapse window has passed', async () => {
    const alice = await registerUser('alice');
    const base = job(alice);
    expect(await notifyOffline(env, { ...base, seq: 7 })).toBe(true);
    expect(await notifyOffline(env, { ...base, seq: 7 })).toBe(false);
    expect(await notifyOffline(env, { ...base, seq: 8 })).toBe(false);
    await env.DB.prepare('UPDATE push_bursts SET started_at = started_at - ? WHERE user_id = ? AND conversation_id = ?')
      .bind(PUSH.collapseWindowMs, alice.user.id, base.conversationId)
      .run();
    expect(await notifyOffline(env, { ...base, seq: 9 })).toBe(true);
    expect(await notifyOffline(env, { ...base, seq: 10 })).toBe(false);
  });

  it('after clearPushState (a device came online) drops queued pushes and starts a new burst', async () => {
    const alice = await registerUser('alice');
    const sub = await subscribe(alice);
    const base = job(alice);
    expect(await openBurst(env.DB, alice.user.id, base.conversationId, 1, Date.now())).toBe(true);
    await clearPushState(env, alice.user.id);

    // The job of the ended burst reaches the consumer now: it is acknowledged and not sent.
    const batch = createMessageBatch('edge-chat-push', [{ id: 'stale', timestamp: Date.now(), attempts: 1, body: { ...base, seq: 1 } }]);
    await worker.queue(batch, env);
    const result = await getQueueResult(batch, createExecutionContext());
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks).toEqual(['stale']);

    expect(await notifyOffline(env, { ...base, seq: 2, preview: 'later' })).toBe(true);
    const pushes = await waitForPushes(sub.inbox, 1);
    expect(await decrypt(pushes[0]!, sub)).toMatchObject({ seq: 2, body: 'Bob: later' });
    await noMorePushesWithin();
    expect((await received(sub.inbox)).length).toBe(1);
  });

  it('removes a subscription the push service answers 410 Gone', async () => {
    const alice = await registerUser('alice');
    const sub = await subscribe(alice, 'gone');
    expect(await subscriptionCount(alice.deviceId)).toBe(1);
    await notifyOffline(env, job(alice));
    await waitForPushes(sub.inbox, 1);
    await waitFor('the gone subscription to be deleted', async () => (await subscriptionCount(alice.deviceId)) === 0);
  });

  it('retries with exponential backoff while the push service is down', async () => {
    const alice = await registerUser('alice');
    const sub = await subscribe(alice, 'down');
    const down = job(alice);
    await openBurst(env.DB, alice.user.id, down.conversationId, down.seq, Date.now());
    for (const attempts of [1, 3]) {
      // The plugin's createMessageBatch does not record retry delays, so this one does.
      const retries: (QueueRetryOptions | undefined)[] = [];
      const message = { id: `try-${attempts}`, timestamp: new Date(), attempts, body: down, ack: () => {}, retry: (o?: QueueRetryOptions) => void retries.push(o) };
      const batch = { queue: 'edge-chat-push', messages: [message], ackAll: () => {}, retryAll: () => {} };
      await worker.queue(batch as unknown as MessageBatch<unknown>, env);
      expect(retries).toEqual([{ delaySeconds: retryDelaySeconds(attempts) }]);
    }
    expect((await received(sub.inbox)).length).toBe(2);
    // An outage is not expiry: the subscription stays.
    expect(await subscriptionCount(alice.deviceId)).toBe(1);
    expect([1, 2, 3, 4, 10].map(retryDelaySeconds)).toEqual([10, 20, 40, 80, PUSH.retryMaxDelaySeconds]);
  });

  it('never notifies a revoked device', async () => {
    const alice = await registerUser('alice', 'laptop');
    const login = (deviceName: string) =>
      json<Session>('/v1/auth/login', { body: { handle: alice.user.handle, password: PASSWORD, deviceName } }, 200);
    const [phone, tablet] = [await login('phone'), await login('tablet')];
    const [laptopSub, phoneSub, tabletSub] = [await subscribe(alice), await subscribe(phone), await subscribe(tablet)];

    await json(`/v1/devices/${phone.deviceId}`, { token: alice.accessToken, method: 'DELETE' }, 204);
    expect(await subscriptionCount(phone.deviceId)).toBe(0);
    // A revoke that lands while its subscription row still exists is caught at send time.
    await env.DB.prepare('UPDATE devices SET revoked_at = ? WHERE id = ?').bind(Date.now(), tablet.deviceId).run();

    await notifyOffline(env, job(alice));
    await waitForPushes(laptopSub.inbox, 1);
    await noMorePushesWithin();
    expect((await received(phoneSub.inbox)).length).toBe(0);
    expect((await received(tabletSub.inbox)).length).toBe(0);
  });
});

describe('from the send path', () => {
  it('an offline recipient gets one decryptable push per conversation burst; an online recipient gets none', async () => {
    const [alice, bob, carol] = [await registerUser('alice'), await registerUser('bob'), await registerUser('carol')];
    const [bobSub, carolSub] = [await subscribe(bob), await subscribe(carol)];
    const id = await createGroup(alice, [bob, carol], 'Climbing club');
    const carolOnline = await openInbox(carol);
    const window = await openWindow(alice, id);
    await sendBurst(window, 5, 'burst');

    const [push] = await waitForPushes(bobSub.inbox, 1);
    await noMorePushesWithin();
    expect(await received(bobSub.inbox)).toHaveLength(1);
    await expectValidVapid(push!);
    expect(PushPayload.parse(await decrypt(push!, bobSub))).toMatchObject({
      conversationId: id,
      title: 'Climbing club',
      body: expect.stringMatching(/^alice: burst/),
    });
    expect(await received(carolSub.inbox)).toHaveLength(0);
    carolOnline.close();
    window.close();
  });

  it('a recipient who never subscribed costs no push work; subscribing takes effect with the next message', async () => {
    const [alice, bob, dave] = [await registerUser('alice'), await registerUser('bob'), await registerUser('dave')];
    const bobSub = await subscribe(bob);
    const id = await createGroup(alice, [bob, dave], 'Quiet ones');
    const window = await openWindow(alice, id);
    await sendBurst(window, 3, 'before');
    await waitForPushes(bobSub.inbox, 1);
    await noMorePushesWithin();
    const bursts = async (userId: string) =>
      (await env.DB.prepare('SELECT count(*) AS n FROM push_bursts WHERE user_id = ?').bind(userId).first<{ n: number }>())!.n;
    expect(await bursts(bob.user.id)).toBe(1);
    expect(await bursts(dave.user.id)).toBe(0);

    // Dave's UserDO answered "no subscription" a moment ago; the route tells it otherwise at once.
    const daveSub = await subscribe(dave);
    await sendBurst(window, 1, 'after');
    const [push] = await waitForPushes(daveSub.inbox, 1);
    expect(PushPayload.parse(await decrypt(push!, daveSub))).toMatchObject({ conversationId: id, body: expect.stringMatching(/^alice: after 0/) });
    window.close();
  });
});
