/**
 * Every wire of a device's event stream ends when the device is revoked: the inbox
 * socket (4004), the SSE stream (an `error` frame `device_revoked`, then the end), a held
 * long poll and an ack (401 `device_revoked`). Each case is tried both ways: signed out
 * through the API, and revoked where only the UserDO knows it (as another isolate would,
 * whose standing cache this one does not share).
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { call, createGroup, headStart, json, quietPeriod, registerUser } from './helpers.js';
import { openInbox, secondDevice, text } from './inbox-helpers.js';
import { openSse } from './stream-helpers.js';
import type { Session } from '../../src/protocol/index.js';

type Revoke = (owner: Session, device: Session) => Promise<void>;

const REVOCATIONS: [string, Revoke][] = [
  ['signed out through the API', async (owner, device) => void (await json(`/v1/devices/${device.deviceId}`, { token: owner.accessToken, method: 'DELETE' }, 204))],
  ['revoked in the UserDO only', async (_owner, device) => env.USERS.getByName(device.user.id).forgetDevice(device.deviceId)],
];

const send = (from: Session, conversationId: string, words: string) =>
  json(`/v1/conversations/${conversationId}/messages`, { token: from.accessToken, body: { cmid: crypto.randomUUID(), content: text(words) } }, 201);

describe.each(REVOCATIONS)('a device %s', (_name, revoke) => {
  it('its SSE stream gets an error frame device_revoked within a second and ends; nothing after it', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const phone = await secondDevice(alice, 'phone');
    const group = await createGroup(bob, [alice]);
    const sse = await openSse(phone);
    await send(bob, group, 'before');
    await sse.until(() => sse.events().length >= 1, 'the first message');
    const revokedAt = Date.now();
    await revoke(alice, phone);
    await sse.until(() => sse.ended, 'the end of the stream', 5_000);
    expect(Date.now() - revokedAt).toBeLessThan(1_500);
    expect(sse.frames.at(-1)).toMatchObject({ type: 'error', code: 'device_revoked' });
    await send(bob, group, 'after');
    await quietPeriod(200); // the ended stream must not carry it
    expect(sse.frames.some((f) => f.type === 'deliver' && JSON.stringify(f).includes('after'))).toBe(false);
  });

  it('a held long poll answers 401 device_revoked at once, and so do later polls and acks', async () => {
    const alice = await registerUser('alice');
    const phone = await secondDevice(alice, 'phone');
    await json('/v1/inbox/poll?timeoutMs=0', { token: phone.accessToken }, 200);
    const started = Date.now();
    const held = call('/v1/inbox/poll?timeoutMs=20000', { token: phone.accessToken });
    await headStart(200);
    await revoke(alice, phone);
    const res = await held;
    expect(res.status).toBe(401);
    expect((await res.json<{ code: string }>()).code).toBe('device_revoked');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await json('/v1/inbox/poll?timeoutMs=0', { token: phone.accessToken }, 401)).code).toBe('device_revoked');
    expect((await json('/v1/inbox/ack', { token: phone.accessToken, body: { cursor: 0 } }, 401)).code).toBe('device_revoked');
  });

  it('its inbox socket closes with 4004', async () => {
    const alice = await registerUser('alice');
    const phone = await secondDevice(alice, 'phone');
    const inbox = await openInbox(phone);
    await revoke(alice, phone);
    expect((await inbox.socket.waitClosed(2_000)).code).toBe(4004);
  });
});

describe('the event stream refuses a revoked device', () => {
  it('readEvents, waitForEvents and ackEvents answer device_revoked, and never revive its queue', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const phone = await secondDevice(alice, 'phone');
    const group = await createGroup(bob, [alice]);
    const stub = env.USERS.getByName(alice.user.id);
    expect((await stub.readEvents(phone.deviceId, 0)).ok).toBe(true);
    await stub.forgetDevice(phone.deviceId);
    const refused = { ok: false, error: expect.objectContaining({ code: 'device_revoked' }) };
    expect(await stub.readEvents(phone.deviceId, 0)).toEqual(refused);
    expect(await stub.waitForEvents(phone.deviceId, 0, 10)).toEqual(refused);
    expect(await stub.ackEvents(phone.deviceId, 0)).toEqual(refused);
    await send(bob, group, 'held for nobody');
    const cursors = await runInDurableObject(stub, (_i, state) =>
      state.storage.sql.exec<{ device_id: string }>('SELECT device_id FROM device_cursors').toArray().map((r) => r.device_id),
    );
    expect(cursors).not.toContain(phone.deviceId);
  });
});
