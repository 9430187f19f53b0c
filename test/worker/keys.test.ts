/**
 * The key directory (src/user/keys.ts, src/routes/keys.ts): what a device uploads, what a
 * sender claims (each one-time prekey once, even under concurrent claims), the device
 * list's version and its `devices_changed` announcements, `prekeys_low`, and every
 * refusal leaving storage as it was.
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { call, createGroup, json, quietPeriod, randomAddress, registerUser } from './helpers.js';
import { openInbox } from './inbox-helpers.js';
import { E2EE } from '../../src/limits.js';
import type { ClaimedKeys, ConversationEvent, DeviceEvent, DeviceList, KeyStatus, KeyUploadBody, PreKey, Session, SignedPreKey } from '../../src/protocol/index.js';

// ── Keys as a device makes them: the libsignal sizes, random bytes (the server checks shapes only) ──

const b64 = (bytes: number) =>
  btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(bytes))))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
const ecKey = () => b64(33);
const kemKey = () => b64(1_569);
const signature = () => b64(64);
const preKeys = (from: number, n: number): PreKey[] => Array.from({ length: n }, (_, i) => ({ keyId: from + i, publicKey: ecKey() }));
const pqPreKeys = (from: number, n: number): SignedPreKey[] => Array.from({ length: n }, (_, i) => ({ keyId: from + i, publicKey: kemKey(), signature: signature() }));

function keysFor(options: { oneTime?: number; pqOneTime?: number } = {}): KeyUploadBody {
  return {
    registrationId: 1 + Math.floor(Math.random() * 16_000),
    identityKey: ecKey(),
    signedPreKey: { keyId: 1, publicKey: ecKey(), signature: signature() },
    pqLastResortPreKey: { keyId: 1, publicKey: kemKey(), signature: signature() },
    oneTimePreKeys: preKeys(100, options.oneTime ?? 0),
    pqOneTimePreKeys: pqPreKeys(100, options.pqOneTime ?? 0),
  };
}

const upload = (s: Session, body: unknown) => call('/v1/keys', { token: s.accessToken, method: 'PUT', body });
const status = (s: Session) => json<KeyStatus>('/v1/keys/status', { token: s.accessToken }, 200);
const deviceList = (s: Session, userId: string) => json<DeviceList>(`/v1/users/${userId}/keys`, { token: s.accessToken }, 200);
const claim = (s: Session, userId: string, body: unknown = {}) => call(`/v1/users/${userId}/keys/claim`, { token: s.accessToken, body });
const claimed = async (s: Session, userId: string, body: unknown = {}) => {
  const res = await claim(s, userId, body);
  expect(res.status).toBe(200);
  return (await res.json()) as ClaimedKeys;
};

async function uploaded(s: Session, body: KeyUploadBody): Promise<KeyStatus> {
  const res = await upload(s, body);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as KeyStatus;
}

/** Another device of `s`'s user. */
const login = (s: Session) =>
  json<Session>('/v1/auth/login', { body: { handle: s.user.handle, password: 'correct horse battery', deviceName: 'another' }, headers: { 'cf-connecting-ip': randomAddress() } }, 200);

/** Every key row the user's object holds, to show a refusal changed nothing. */
const keyTables = (userId: string) =>
  runInDurableObject(env.USERS.getByName(userId), (_i, state) =>
    JSON.stringify(
      ['device_keys', 'one_time_prekeys', 'retired_prekeys'].map((table) => state.storage.sql.exec(`SELECT * FROM ${table} ORDER BY 1, 2, 3`).toArray()),
    ),
  );

async function refused(res: Response, status: number, code: string): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(JSON.parse(text).code, text).toBe(code);
}

/** An end-to-end encrypted group, created as an app creates one. */
async function encryptedGroup(owner: Session, members: Session[]): Promise<string> {
  const body = { kind: 'group', title: 'encrypted', memberIds: members.map((m) => m.user.id), encrypted: true };
  const id = (await json('/v1/conversations', { token: owner.accessToken, body }, 201)).conversation.id as string;
  expect((await json(`/v1/conversations/${id}`, { token: owner.accessToken }, 200)).conversation.encrypted).toBe(true);
  return id;
}

/** The `devices_changed` events of a conversation, as `reader` reads its history. */
const devicesChanged = async (reader: Session, conversationId: string) =>
  ((await json(`/v1/conversations/${conversationId}/events?after=0`, { token: reader.accessToken }, 200)).events as ConversationEvent[]).filter((e) => e.type === 'devices_changed');

/** The device's queued events (it reads once first, so it is known to the queue). */
const deviceEvents = async (s: Session) => (await json('/v1/inbox/poll?cursor=0&timeoutMs=0', { token: s.accessToken }, 200)).events as DeviceEvent[];

describe('a device uploads its keys', () => {
  it('is listed with its identity, reports its stock, and an upload repeated changes nothing', async () => {
    const alice = await registerUser('alice');
    const body = keysFor({ oneTime: 100, pqOneTime: 100 });
    // A full batch of post-quantum keys is over LIMITS.maxFrameBytes: the key routes take E2EE.maxKeyUploadBytes.
    expect(JSON.stringify(body).length).toBeGreaterThan(64 * 1024);
    const stock = { oneTimePreKeys: 100, pqOneTimePreKeys: 100, signedPreKeyId: 1, pqLastResortPreKeyId: 1 };
    expect(await uploaded(alice, body)).toEqual(stock);
    expect(await status(alice)).toEqual(stock);
    const list = await deviceList(alice, alice.user.id);
    expect(list).toEqual({ userId: alice.user.id, version: 1, devices: [{ deviceId: alice.deviceId, registrationId: body.registrationId, identityKey: body.identityKey }] });
    const before = await keyTables(alice.user.id);
    expect(await uploaded(alice, body)).toEqual(stock);
    expect((await deviceList(alice, alice.user.id)).version).toBe(1);
    expect(await keyTables(alice.user.id)).toBe(before);
  });

  it('rotates a signed prekey: the old one is kept through the grace period, then deleted', async () => {
    const alice = await registerUser('alice');
    const body = keysFor();
    await uploaded(alice, body);
    const rotated = { ...body, signedPreKey: { keyId: 2, publicKey: ecKey(), signature: signature() }, pqLastResortPreKey: { keyId: 2, publicKey: kemKey(), signature: signature() } };
    const at = Date.now();
    expect(await uploaded(alice, rotated)).toMatchObject({ signedPreKeyId: 2, pqLastResortPreKeyId: 2 });
    const bob = await registerUser('bob');
    const [bundle] = (await claimed(bob, alice.user.id)).bundles;
    expect(bundle!.signedPreKey).toEqual(rotated.signedPreKey);
    expect(bundle!.pqPreKey).toEqual({ ...rotated.pqLastResortPreKey, lastResort: true });
    const user = env.USERS.getByName(alice.user.id);
    const retired = () => runInDurableObject(user, (_i, state) => state.storage.sql.exec('SELECT kind, key_id, public_key FROM retired_prekeys ORDER BY kind').toArray());
    expect(await retired()).toEqual([
      { kind: 'pq_last_resort', key_id: 1, public_key: body.pqLastResortPreKey.publicKey },
      { kind: 'signed', key_id: 1, public_key: body.signedPreKey.publicKey },
    ]);
    // The alarm is set for the end of the grace; pruning is the alarm's work, run here at chosen times.
    const alarm = await runInDurableObject(user, (_i, state) => state.storage.getAlarm());
    expect(alarm).toBeGreaterThanOrEqual(at + E2EE.signedPreKeyGraceMs);
    expect(await user.pruneKeys(at + E2EE.signedPreKeyGraceMs - 60_000)).toBe(0);
    expect(await retired()).toHaveLength(2);
    expect(await user.pruneKeys(Date.now() + E2EE.signedPreKeyGraceMs)).toBe(2);
    expect(await retired()).toEqual([]);
  });

  it('refuses bad input and bounds with a stable code, storing nothing', async () => {
    const alice = await registerUser('alice');
    // No keys yet: prekeys and status have nothing to add to.
    await refused(await call('/v1/keys/prekeys', { token: alice.accessToken, body: { oneTimePreKeys: preKeys(1, 1) } }), 404, 'not_found');
    await refused(await call('/v1/keys/status', { token: alice.accessToken }), 404, 'not_found');
    const body = keysFor({ oneTime: 100, pqOneTime: 100 });
    await uploaded(alice, body);
    // Up to the bound is fine: the post-quantum stock is now full (E2EE.maxOneTimePreKeys).
    const full = await json<KeyStatus>('/v1/keys/prekeys', { token: alice.accessToken, body: { pqOneTimePreKeys: pqPreKeys(1_000, 100) } }, 200);
    expect(full).toMatchObject({ oneTimePreKeys: 100, pqOneTimePreKeys: E2EE.maxOneTimePreKeys });
    const before = await keyTables(alice.user.id);
    const cases: [unknown, number, string][] = [
      [{ ...body, oneTimePreKeys: preKeys(1_000, E2EE.maxPreKeysPerUpload + 1) }, 400, 'invalid_request'],
      [{ ...body, identityKey: 'not base64url!' }, 400, 'invalid_request'],
      [{ ...body, signedPreKey: { ...body.signedPreKey, keyId: 0x100_0000 } }, 400, 'invalid_request'],
      [{ ...body, extra: true }, 400, 'invalid_request'],
      [{ ...body, oneTimePreKeys: [...preKeys(5_000, 3), ...preKeys(5_000, 1)] }, 400, 'invalid_request'],
      // One more post-quantum key would pass the bound: the classic keys of the same upload (stored first) stay out too.
      [{ ...body, oneTimePreKeys: preKeys(1_000, 50), pqOneTimePreKeys: pqPreKeys(2_000, 1) }, 409, 'prekey_limit'],
      // A stored keyId with other bytes, a signed prekey's keyId with other bytes.
      [{ ...body, oneTimePreKeys: [{ keyId: 100, publicKey: ecKey() }] }, 409, 'conflict'],
      [{ ...body, signedPreKey: { ...body.signedPreKey, publicKey: ecKey() } }, 409, 'conflict'],
    ];
    for (const [bad, code, name] of cases) await refused(await upload(alice, bad), code, name);
    await refused(await call('/v1/keys/prekeys', { token: alice.accessToken, body: { oneTimePreKeys: preKeys(1_000, 50), pqOneTimePreKeys: pqPreKeys(2_000, 1) } }), 409, 'prekey_limit');
    expect(await keyTables(alice.user.id)).toBe(before);
    expect(await status(alice)).toEqual(full);
    // Past the body bound: refused before it is parsed.
    await refused(await call('/v1/keys', { token: alice.accessToken, method: 'PUT', rawBody: 'x'.repeat(E2EE.maxKeyUploadBytes + 1), headers: { 'content-type': 'application/json' } }), 413, 'payload_too_large');
  });

  it("refuses another identity key or registration id for the same device", async () => {
    const alice = await registerUser('alice');
    const body = keysFor({ oneTime: 5 });
    await uploaded(alice, body);
    const before = await keyTables(alice.user.id);
    await refused(await upload(alice, { ...body, identityKey: ecKey(), oneTimePreKeys: preKeys(500, 5) }), 409, 'identity_key_mismatch');
    await refused(await upload(alice, { ...body, registrationId: (body.registrationId % 16_000) + 1 }), 409, 'identity_key_mismatch');
    expect(await keyTables(alice.user.id)).toBe(before);
  });

  it(`holds keys for at most E2EE.maxDevicesPerUser (${E2EE.maxDevicesPerUser}) devices of a user`, async () => {
    const alice = await registerUser('alice');
    const devices = [alice, ...(await Promise.all(Array.from({ length: E2EE.maxDevicesPerUser }, () => login(alice))))];
    for (const device of devices.slice(0, E2EE.maxDevicesPerUser)) await uploaded(device, keysFor());
    const before = await keyTables(alice.user.id);
    const last = devices.at(-1)!;
    await refused(await upload(last, keysFor()), 409, 'device_limit');
    expect(await keyTables(alice.user.id)).toBe(before);
    expect((await deviceList(alice, alice.user.id)).version).toBe(E2EE.maxDevicesPerUser);
    // A device signed out frees its place.
    expect((await call(`/v1/devices/${alice.deviceId}`, { token: last.accessToken, method: 'DELETE' })).status).toBe(204);
    await uploaded(last, keysFor());
    expect((await deviceList(last, alice.user.id)).version).toBe(E2EE.maxDevicesPerUser + 2);
  });
});

describe('claiming bundles', () => {
  it('hands each one-time prekey out exactly once under 20 concurrent claims, then the last resort', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const body = keysFor({ oneTime: 10, pqOneTime: 10 });
    await uploaded(bob, body);
    const answers = await Promise.all(Array.from({ length: 20 }, () => claimed(alice, bob.user.id)));
    const bundles = answers.map((a) => {
      expect(a.bundles).toHaveLength(1);
      return a.bundles[0]!;
    });
    const classic = bundles.flatMap((b) => (b.oneTimePreKey ? [b.oneTimePreKey.keyId] : []));
    expect(classic).toHaveLength(10);
    expect(new Set(classic)).toEqual(new Set(body.oneTimePreKeys.map((k) => k.keyId)));
    const pq = bundles.filter((b) => !b.pqPreKey.lastResort).map((b) => b.pqPreKey.keyId);
    expect(pq).toHaveLength(10);
    expect(new Set(pq)).toEqual(new Set(body.pqOneTimePreKeys.map((k) => k.keyId)));
    // Ten fell back: no classic one-time key, the post-quantum last resort.
    const fallbacks = bundles.filter((b) => b.pqPreKey.lastResort);
    expect(fallbacks).toHaveLength(10);
    for (const b of fallbacks) {
      expect(b.oneTimePreKey).toBeUndefined();
      expect(b.pqPreKey).toEqual({ ...body.pqLastResortPreKey, lastResort: true });
    }
    // Every answer is the same device with its identity and current signed prekey.
    for (const b of bundles) expect(b).toMatchObject({ deviceId: bob.deviceId, registrationId: body.registrationId, identityKey: body.identityKey, signedPreKey: body.signedPreKey });
    expect(await status(bob)).toMatchObject({ oneTimePreKeys: 0, pqOneTimePreKeys: 0 });
  });

  it('claims for the named devices only, and for none of a user without keys', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const phone = await login(bob);
    await uploaded(bob, keysFor({ oneTime: 2 }));
    await uploaded(phone, keysFor({ oneTime: 2 }));
    expect((await claimed(alice, bob.user.id)).bundles.map((b) => b.deviceId).sort()).toEqual([bob.deviceId, phone.deviceId].sort());
    expect((await claimed(alice, bob.user.id, { deviceIds: [phone.deviceId] })).bundles.map((b) => b.deviceId)).toEqual([phone.deviceId]);
    // The caller's own other devices, too.
    expect((await claimed(bob, bob.user.id, { deviceIds: [phone.deviceId] })).bundles.map((b) => b.deviceId)).toEqual([phone.deviceId]);
    expect(await claimed(bob, alice.user.id)).toEqual({ userId: alice.user.id, version: 0, bundles: [] });
    await refused(await claim(alice, bob.user.id, { deviceIds: [] }), 400, 'invalid_request');
  });

  it('tells the device, and only it, once when a claim takes its stock below the threshold', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const tablet = await login(bob);
    expect(await deviceEvents(bob)).toEqual([]);
    expect(await deviceEvents(tablet)).toEqual([]);
    const threshold = E2EE.lowPreKeyThreshold;
    await uploaded(bob, keysFor({ oneTime: threshold + 1, pqOneTime: threshold + 5 }));
    await claimed(alice, bob.user.id, { deviceIds: [bob.deviceId] });
    expect(await deviceEvents(bob)).toEqual([]);
    // The classic stock goes below the threshold: one event, with what is left of each kind.
    await claimed(alice, bob.user.id, { deviceIds: [bob.deviceId] });
    const low = { kind: 'prekeys_low', oneTimePreKeys: threshold - 1, pqOneTimePreKeys: threshold + 3 };
    expect(await deviceEvents(bob)).toEqual([expect.objectContaining(low)]);
    // Further claims below it say nothing more for that kind; the other kind crossing is told once.
    for (let i = 0; i < 4; i++) await claimed(alice, bob.user.id, { deviceIds: [bob.deviceId] });
    expect(await deviceEvents(bob)).toEqual([expect.objectContaining(low), expect.objectContaining({ kind: 'prekeys_low', oneTimePreKeys: threshold - 5, pqOneTimePreKeys: threshold - 1 })]);
    for (let i = 0; i < 3; i++) await claimed(alice, bob.user.id, { deviceIds: [bob.deviceId] });
    expect(await deviceEvents(bob)).toHaveLength(2);
    // Another device of the user never sees it.
    expect(await deviceEvents(tablet)).toEqual([]);
    // Refilled to the threshold (12 + 10), the next crossing is told again.
    await json('/v1/keys/prekeys', { token: bob.accessToken, body: { oneTimePreKeys: preKeys(1_000, 10) } }, 200);
    for (let i = 0; i < 2; i++) await claimed(alice, bob.user.id, { deviceIds: [bob.deviceId] });
    expect(await deviceEvents(bob)).toHaveLength(2);
    await claimed(alice, bob.user.id, { deviceIds: [bob.deviceId] });
    const events = await deviceEvents(bob);
    expect(events).toHaveLength(3);
    expect(events[2]).toMatchObject({ kind: 'prekeys_low', oneTimePreKeys: threshold - 1, pqOneTimePreKeys: threshold - 7 });
  });

  it("reaches the device's open inbox socket live, and no other device's", async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const tablet = await login(bob);
    await uploaded(bob, keysFor({ oneTime: E2EE.lowPreKeyThreshold, pqOneTime: E2EE.lowPreKeyThreshold }));
    const [own, other] = [await openInbox(bob), await openInbox(tablet)];
    await claimed(alice, bob.user.id);
    const low = await own.until(() => own.events().find((e) => e.kind === 'prekeys_low'), 'prekeys_low');
    expect(low).toMatchObject({ oneTimePreKeys: E2EE.lowPreKeyThreshold - 1, pqOneTimePreKeys: E2EE.lowPreKeyThreshold - 1 });
    // Time for a stray delivery to the tablet to arrive: none does.
    await quietPeriod(200);
    expect(other.events()).toEqual([]);
    own.close();
    other.close();
  });

  it('is rate limited per caller', async () => {
    const alice = await registerUser('alice');
    await uploaded(alice, keysFor());
    const { keyClaims } = (await import('../../src/ratelimit/rules.js')).TIER_LIMITS.new;
    const answers = await Promise.all(Array.from({ length: keyClaims.limit + 1 }, () => claim(alice, alice.user.id)));
    const statuses = answers.map((r) => r.status);
    await Promise.all(answers.map((r) => r.body?.cancel()));
    expect(statuses.filter((s) => s === 200)).toHaveLength(keyClaims.limit);
    expect(statuses.filter((s) => s === 429)).toHaveLength(1);
  });
});

describe('the device list', () => {
  it('grows its version when a device adds its keys and when one holding keys is revoked; the revoked keys are gone', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const laptop = await login(alice);
    const unkeyed = await login(alice);
    await uploaded(alice, keysFor({ oneTime: 3 }));
    expect((await deviceList(bob, alice.user.id)).version).toBe(1);
    await uploaded(laptop, keysFor({ oneTime: 3, pqOneTime: 3 }));
    expect((await deviceList(bob, alice.user.id)).devices.map((d) => d.deviceId)).toEqual([alice.deviceId, laptop.deviceId]);
    expect((await deviceList(bob, alice.user.id)).version).toBe(2);
    // A device without keys signed out: the list did not change.
    expect((await call(`/v1/devices/${unkeyed.deviceId}`, { token: alice.accessToken, method: 'DELETE' })).status).toBe(204);
    expect((await deviceList(bob, alice.user.id)).version).toBe(2);
    expect((await call(`/v1/devices/${laptop.deviceId}`, { token: alice.accessToken, method: 'DELETE' })).status).toBe(204);
    const list = await deviceList(bob, alice.user.id);
    expect(list.version).toBe(3);
    expect(list.devices.map((d) => d.deviceId)).toEqual([alice.deviceId]);
    expect((await claimed(bob, alice.user.id)).bundles.map((b) => b.deviceId)).toEqual([alice.deviceId]);
    expect((await claimed(bob, alice.user.id, { deviceIds: [laptop.deviceId] })).bundles).toEqual([]);
    const rows = await runInDurableObject(env.USERS.getByName(alice.user.id), (_i, state) =>
      ['device_keys', 'one_time_prekeys', 'retired_prekeys'].map((t) => state.storage.sql.exec(`SELECT count(*) AS n FROM ${t} WHERE device_id = ?`, laptop.deviceId).one().n),
    );
    expect(rows).toEqual([0, 0, 0]);
  });

  it('leaves the handle look-up alone: /v1/users/by-handle/keys finds the user whose handle is "keys"', async () => {
    const keys = await json<Session>('/v1/auth/register', { body: { handle: 'keys', displayName: 'Keys', password: 'correct horse battery', deviceName: 'd' }, headers: { 'cf-connecting-ip': randomAddress() } }, 201);
    const alice = await registerUser('alice');
    expect((await json('/v1/users/by-handle/keys', { token: alice.accessToken }, 200)).user.id).toBe(keys.user.id);
  });

  it('answers someone the user blocked as if the user did not exist', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    await uploaded(bob, keysFor({ oneTime: 5 }));
    expect((await call(`/v1/blocks/${alice.user.id}`, { token: bob.accessToken, method: 'PUT' })).status).toBe(204);
    const nobody = `u_${crypto.randomUUID().replace(/-/g, '')}`;
    for (const userId of [bob.user.id, nobody]) {
      const list = await call(`/v1/users/${userId}/keys`, { token: alice.accessToken });
      const claim_ = await claim(alice, userId);
      expect([list.status, claim_.status]).toEqual([404, 404]);
      expect(await list.json()).toMatchObject({ code: 'user_not_found', message: 'No such user.' });
      expect(await claim_.json()).toMatchObject({ code: 'user_not_found', message: 'No such user.' });
    }
    expect(await status(bob)).toMatchObject({ oneTimePreKeys: 5 });
    // Bob still reads his own list, and the one he blocked may still be read by him.
    expect((await deviceList(bob, bob.user.id)).devices).toHaveLength(1);
    expect((await deviceList(bob, alice.user.id)).devices).toEqual([]);
  });

  it('is announced by devices_changed in the encrypted conversations of the user, and in no plain one', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    // Bob's device reads its stream first: a device's queue starts where it first reads.
    await deviceEvents(bob);
    const encrypted = await encryptedGroup(alice, [bob]);
    const plain = await createGroup(alice, [bob], 'plain');
    await expect.poll(async () => (await json('/v1/conversations', { token: alice.accessToken }, 200)).conversations.length, { timeout: 5_000 }).toBe(2);
    const stub = env.CONVERSATIONS.getByName(encrypted);
    const changes = (id: string) => devicesChanged(bob, id);
    await uploaded(alice, keysFor());
    expect(await changes(encrypted)).toEqual([expect.objectContaining({ type: 'devices_changed', userId: alice.user.id, version: 1, author: { userId: alice.user.id, deviceId: alice.deviceId } })]);
    const phone = await login(alice);
    await uploaded(phone, keysFor());
    expect((await call(`/v1/devices/${phone.deviceId}`, { token: alice.accessToken, method: 'DELETE' })).status).toBe(204);
    expect((await changes(encrypted)).map((e) => e.version)).toEqual([1, 2, 3]);
    expect(await changes(plain)).toEqual([]);
    // It reached bob's device queue as any event of the conversation does.
    await expect
      .poll(async () => (await deviceEvents(bob)).filter((e) => e.kind === 'event' && e.event.type === 'devices_changed').length, { timeout: 5_000 })
      .toBe(3);
    // Delivered, the outbox is empty; a repeat of a version already logged logs nothing.
    const outbox = await runInDurableObject(env.USERS.getByName(alice.user.id), (_i, state) => state.storage.sql.exec("SELECT * FROM outbox WHERE kind = 'devices_changed'").toArray());
    expect(outbox).toEqual([]);
    expect(await stub.noteDevicesChanged(alice.user.id, phone.deviceId, 3)).toBe(false);
    expect(await env.CONVERSATIONS.getByName(plain).noteDevicesChanged(alice.user.id, phone.deviceId, 4)).toBe(false);
    expect(await changes(encrypted)).toHaveLength(3);
  });

  it('a devices_changed call that failed stays in the outbox, and the alarm finishes it', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const group = await encryptedGroup(alice, [bob]);
    await expect.poll(async () => (await json('/v1/conversations', { token: alice.accessToken }, 200)).conversations.length, { timeout: 5_000 }).toBe(1);
    await uploaded(alice, keysFor());
    const user = env.USERS.getByName(alice.user.id);
    // As if a second device's first upload had found the group unreachable: the version moved, the outbox kept a row due now.
    await runInDurableObject(user, async (_i, state) => {
      state.storage.sql.exec("UPDATE state SET value = 2 WHERE key = 'devices_version'");
      state.storage.sql.exec("INSERT INTO outbox (conversation_id, kind, device_id, version, attempts, due_at) VALUES (?, 'devices_changed', 'd_phone', 2, 1, ?)", group, Date.now());
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    expect((await devicesChanged(bob, group)).map((e) => e.version)).toEqual([1]);
    expect(await runDurableObjectAlarm(user)).toBe(true);
    expect((await devicesChanged(bob, group)).map((e) => [e.version, e.author.deviceId])).toEqual([
      [1, alice.deviceId],
      [2, 'd_phone'],
    ]);
    expect(await runInDurableObject(user, (_i, state) => state.storage.sql.exec('SELECT * FROM outbox').toArray())).toEqual([]);
  });

  it('keeps every key through an eviction between upload and claim', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const body = keysFor({ oneTime: 2, pqOneTime: 1 });
    await uploaded(bob, body);
    await evictDurableObject(env.USERS.getByName(bob.user.id));
    const [first] = (await claimed(alice, bob.user.id)).bundles;
    expect(first).toEqual({
      deviceId: bob.deviceId,
      registrationId: body.registrationId,
      identityKey: body.identityKey,
      signedPreKey: body.signedPreKey,
      pqPreKey: { ...body.pqOneTimePreKeys[0]!, lastResort: false },
      oneTimePreKey: body.oneTimePreKeys[0],
    });
    await evictDurableObject(env.USERS.getByName(bob.user.id));
    expect(await status(bob)).toEqual({ oneTimePreKeys: 1, pqOneTimePreKeys: 0, signedPreKeyId: 1, pqLastResortPreKeyId: 1 });
    expect((await deviceList(alice, bob.user.id)).version).toBe(1);
  });
});
