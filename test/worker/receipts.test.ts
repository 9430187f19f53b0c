import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { createDirect, json, openWindow, quietPeriod, registerUser } from './helpers.js';
import { serviceUser } from './abuse-helpers.js';
import { asMember, bigGroup, cmid, text } from './lifecycle-helpers.js';
import { type Watermark } from '../../src/protocol/index.js';
import { RECEIPTS } from '../../src/limits.js';

async function sendMany(id: string, author: { userId: string; deviceId: string }, count: number): Promise<void> {
  const stub = env.CONVERSATIONS.getByName(id);
  for (let i = 0; i < count; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, n) => stub.send(author, { cmid: cmid(), content: text(`message ${i + n}`) })));
  }
}

describe('receipts', () => {
  it('group of 51: 45 of 50 read → "read by 45 of 50"; delivered and read flip only when all have it', async () => {
    const sender = await serviceUser('sender');
    const { id, memberIds } = await bigGroup(sender, 50);
    const stub = env.CONVERSATIONS.getByName(id);
    await sendMany(id, { userId: sender.user.id, deviceId: sender.deviceId }, 10);
    const detail = (seq: number) => json(`/v1/conversations/${id}/messages/${seq}/receipts`, { token: sender.accessToken }, 200);

    // Delivered to 49 of 50: still "sent".
    for (const m of memberIds.slice(0, 49)) expect((await stub.markDelivered(m, 10)).ok).toBe(true);
    expect(await detail(8)).toMatchObject({ status: 'sent', recipients: 50, delivered: 49, read: 0 });
    await stub.markDelivered(memberIds[49]!, 10);
    expect(await detail(8)).toMatchObject({ status: 'delivered', delivered: 50, read: 0 });

    // 45 read everything; the other 5 read up to seq 5.
    await Promise.all(memberIds.slice(0, 45).map((m) => stub.markRead(asMember(m), 10)));
    await Promise.all(memberIds.slice(45).map((m) => stub.markRead(asMember(m), 5)));
    expect(await detail(8)).toMatchObject({ status: 'delivered', recipients: 50, delivered: 50, read: 45 });
    expect(await detail(5)).toMatchObject({ status: 'read', read: 50 });
    const d8 = await detail(8);
    expect(d8.members.filter((m: any) => m.readAt !== null)).toHaveLength(45);
    expect(d8.members.every((m: any) => typeof m.deliveredAt === 'number')).toBe(true);

    // Watermarks never move backwards, nor past the last seq.
    const reader = memberIds[0]!;
    const stale = await stub.markRead(asMember(reader), 3);
    expect(stale).toMatchObject({ ok: true, value: { readSeq: 10, deliveredSeq: 10 } });
    expect(await stub.markDelivered(reader, 2)).toMatchObject({ ok: true, value: { deliveredSeq: 10 } });
    const ahead = await stub.markRead(asMember(reader), 11);
    expect(ahead).toMatchObject({ ok: false, error: { code: 'seq_out_of_range' } });
    expect(await detail(8)).toMatchObject({ read: 45 });
    expect((await json(`/v1/conversations/${id}/read`, { token: sender.accessToken, body: { seq: 99 } }, 400)).code).toBe('seq_out_of_range');
  });

  it('50 members catching up once on 1,000 messages write about 50 rows, not 50,000', async () => {
    const sender = await serviceUser('sender');
    const { id, memberIds } = await bigGroup(sender, 50);
    const stub = env.CONVERSATIONS.getByName(id);
    await sendMany(id, { userId: sender.user.id, deviceId: sender.deviceId }, 1_000);
    for (const m of memberIds) expect((await stub.markRead(asMember(m), 1_000)).ok).toBe(true);
    const rows = await runInDurableObject(stub, (_i, state) => ({
      receipts: state.storage.sql.exec<{ n: number }>('SELECT count(*) AS n FROM receipts').one().n,
      history: state.storage.sql.exec<{ n: number }>('SELECT count(*) AS n FROM receipt_history').one().n,
    }));
    // One watermark row per member, and one history row per watermark moved (read implies delivered).
    expect(rows).toEqual({ receipts: 50, history: 100 });
    const detail = await json(`/v1/conversations/${id}/messages/500/receipts`, { token: sender.accessToken }, 200);
    expect(detail).toMatchObject({ status: 'read', recipients: 50, read: 50 });
  });

  it('50 members reading within one interval reach the sender as a bounded number of coalesced frames', async () => {
    const sender = await serviceUser('sender');
    const { id, memberIds } = await bigGroup(sender, 50);
    const stub = env.CONVERSATIONS.getByName(id);
    await sendMany(id, { userId: sender.user.id, deviceId: sender.deviceId }, 3);
    const window = await openWindow(sender, id);
    const started = Date.now();
    await Promise.all(memberIds.map((m) => stub.markRead(asMember(m), 3)));
    const elapsed = Date.now() - started;
    const seen = new Map<string, Watermark>();
    const receiptFrames = () => window.frames.flatMap((f) => (f.type === 'receipts' ? [f] : []));
    await window.until(() => {
      for (const f of receiptFrames()) for (const w of f.watermarks) seen.set(w.userId, w);
      return memberIds.every((m) => seen.get(m)?.readSeq === 3);
    }, 'every read in receipts frames', 10_000);
    // The bound: at most one frame per flush interval while reads arrive, plus the trailing one.
    const bound = Math.ceil(elapsed / RECEIPTS.flushIntervalMs) + 1;
    expect(receiptFrames().length).toBeLessThanOrEqual(bound);
    expect(bound).toBeLessThan(memberIds.length);
    // Frames are at least one interval apart: no late extra frame within two intervals.
    await quietPeriod(RECEIPTS.flushIntervalMs * 2);
    expect(receiptFrames().length).toBeLessThanOrEqual(bound);
    window.close();
  });

  it('a pending flush survives eviction: it is recomputed from the dirty marks', async () => {
    const sender = await serviceUser('sender');
    const { id, memberIds } = await bigGroup(sender, 3);
    const stub = env.CONVERSATIONS.getByName(id);
    await sendMany(id, { userId: sender.user.id, deviceId: sender.deviceId }, 2);
    const window = await openWindow(sender, id);
    await stub.markRead(asMember(memberIds[0]!), 2);
    const { evictDurableObject } = await import('cloudflare:test');
    await evictDurableObject(stub);
    const frame = await window.next('receipts', () => true, 10_000);
    expect(frame.watermarks).toEqual([{ userId: memberIds[0], deliveredSeq: 2, readSeq: 2 }]);
    window.close();
  });

  it('private reads clear the reader\'s own position but are not shown to others', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const seq = (await json(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: cmid(), content: text('hi') } }, 201)).seq;
    expect(await json(`/v1/conversations/${id}/settings`, { token: bob.accessToken, method: 'PATCH', body: { privateReads: true } }, 200)).toEqual({ privateReads: true });
    expect(await json(`/v1/conversations/${id}/read`, { token: bob.accessToken, body: { seq } }, 200)).toEqual({ deliveredSeq: seq, readSeq: seq });

    const mine = await json(`/v1/conversations/${id}/receipts`, { token: bob.accessToken }, 200);
    expect(mine.watermarks).toContainEqual({ userId: bob.user.id, deliveredSeq: seq, readSeq: seq });
    const theirs = await json(`/v1/conversations/${id}/receipts`, { token: alice.accessToken }, 200);
    expect(theirs.watermarks).toContainEqual({ userId: bob.user.id, deliveredSeq: seq, readSeq: 0 });
    expect(await json(`/v1/conversations/${id}/messages/${seq}/receipts`, { token: alice.accessToken }, 200)).toMatchObject({ status: 'delivered', read: 0 });

    // Over a socket: the read frame answers with the reader's own watermark.
    const w = await openWindow(bob, id);
    w.send({ type: 'read', rid: 'r1', seq });
    expect(await w.next('watermark', (f) => f.rid === 'r1')).toMatchObject({ readSeq: seq, deliveredSeq: seq });
    w.close();
    // Non-members learn nothing.
    const eve = await registerUser('eve');
    expect((await json(`/v1/conversations/${id}/receipts`, { token: eve.accessToken }, 404)).code).toBe('conversation_not_found');
  });
});
