import { describe, expect, it } from 'vitest';
import { createDirect, openWindow, registerUser } from './helpers.js';
import { dumpStorage } from './lifecycle-helpers.js';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { TYPING } from '../../src/protocol/index.js';

describe('typing', () => {
  it('reaches the other windows, is rate-limited per device, expires without a stop, and is never stored', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const [aw, bw] = [await openWindow(alice, id), await openWindow(bob, id)];
    const before = await dumpStorage(id);

    aw.send({ type: 'typing', state: 'start' });
    const start = await bw.next('typing', (f) => f.state === 'start');
    expect(start).toMatchObject({ userId: alice.user.id, deviceId: alice.deviceId, expiresInMs: TYPING.ttlMs });
    const startedAt = Date.now();

    aw.send({ type: 'typing', rid: 'again', state: 'start' });
    const limited = await aw.next('error', (f) => f.rid === 'again');
    expect(limited.code).toBe('rate_limited');
    expect(limited.retryAfterMs).toBeGreaterThan(0);

    // No stop frame is sent: the indicator ends by itself.
    const stop = await bw.next('typing', (f) => f.state === 'stop', TYPING.ttlMs + 3_000);
    expect(stop.userId).toBe(alice.user.id);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(TYPING.ttlMs - 100);
    expect(aw.frames.some((f) => f.type === 'typing')).toBe(false);

    // An explicit stop is passed on too.
    aw.send({ type: 'typing', state: 'start' });
    await bw.until((f) => f.filter((x) => x.type === 'typing' && x.state === 'start').length === 2, 'second start');
    aw.send({ type: 'typing', state: 'stop' });
    await bw.until((f) => f.filter((x) => x.type === 'typing' && x.state === 'stop').length === 2, 'explicit stop');

    const after = await dumpStorage(id);
    expect(after).toEqual(before);
    expect(after.text.toLowerCase()).not.toContain('typing');
    const kv = await runInDurableObject(env.CONVERSATIONS.getByName(id), async (_i, state) => (await state.storage.list()).size);
    expect(kv).toBe(0);
    aw.close();
    bw.close();
  });
});
