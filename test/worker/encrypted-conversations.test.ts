/**
 * End-to-end encrypted conversations on the server (issue 17, docs/PROTOCOL.md "End-to-end
 * encrypted conversations"): created encrypted and staying so, only envelopes accepted
 * there (and never in a plain one), and every device handed the shared body plus its own
 * entry only, on every wire it can hold, each wire open while the message is sent.
 */
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import {
  FeedFrame,
  E2EE,
  deviceEventFor,
  eventsForDevice,
  perDeviceEncoder,
  type ConversationEvent,
  type DeviceEvent,
  type EncryptedContent,
  type EncryptedEntry,
  type Session,
} from '../../src/protocol/index.js';
import { conversationStub } from '../../src/placement.js';
import { pushCandidates } from '../../src/user/notifications.js';
import { GENERIC_NOTIFICATION, payloadFor } from '../../src/push/jobs.js';
import * as inbox from '../../src/user/inbox.js';
import type { UserDO } from '../../src/user/UserDO.js';
import { call, headStart, json, openWindow, registerUser, type TestSocket } from './helpers.js';
import { loginDevice } from './boundary-helpers.js';
import { openInbox, silentUsers } from './inbox-helpers.js';
import { SseFrames, openSse, poll } from './stream-helpers.js';
import { put, ticketFor, uploadWhole } from './media-helpers.js';
import { LANDSCAPE_PNG } from '../fixtures/images.js';

// ── Helpers ──────────────────────────────────────────────────────────────────

type Device = Session;
const deviceOf = (d: Device) => ({ userId: d.user.id, deviceId: d.deviceId });

/** One entry for `device`, its ciphertext naming it (so a test can tell whose it is). */
function entryFor(device: Device, label = 'm'): EncryptedEntry {
  return { userId: device.user.id, deviceId: device.deviceId, kind: 'message', data: `${label}-for-${device.deviceId}` };
}

function envelope(recipients: Device[], label = 'm', extra: Partial<EncryptedContent> = {}): EncryptedContent {
  return { type: 'encrypted', scheme: 'pairwise', body: `sealed-${label}`, entries: recipients.map((d) => entryFor(d, label)), ...extra };
}

async function createEncrypted(creator: Session, body: Record<string, unknown>): Promise<{ id: string; encrypted: boolean }> {
  const res = await json('/v1/conversations', { token: creator.accessToken, body: { ...body, encrypted: true } }, 201);
  return res.conversation;
}

const send = (from: Device, id: string, content: unknown, cmid: string = crypto.randomUUID()) =>
  call(`/v1/conversations/${id}/messages`, { token: from.accessToken, body: { cmid, content } });

async function sendOk(from: Device, id: string, content: unknown, cmid?: string): Promise<number> {
  const res = await send(from, id, content, cmid);
  const body = await res.json<any>();
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body.seq;
}

async function lastSeq(session: Session, id: string): Promise<number> {
  return (await json(`/v1/conversations/${id}`, { token: session.accessToken }, 200)).conversation.lastSeq;
}

/** The entries a message (or edit) at `seq` carried, among `events`. */
function entriesAt(events: ConversationEvent[], seq: number): EncryptedEntry[] | undefined {
  const event = events.find((e) => e.seq === seq);
  if (!event || (event.type !== 'message' && event.type !== 'message_edited') || event.content?.type !== 'encrypted') return undefined;
  return event.content.entries;
}

const conversationEvents = (events: DeviceEvent[], id: string) => events.flatMap((e) => (e.kind === 'event' && e.conversationId === id ? [e.event] : []));

class FeedReader extends SseFrames<FeedFrame> {
  constructor(body: ReadableStream<Uint8Array>) {
    super(body, FeedFrame, 'events');
  }

  events(): ConversationEvent[] {
    return this.frames.flatMap((f) => (f.type === 'events' ? f.events : []));
  }
}

async function openFeed(session: Session, id: string): Promise<FeedReader> {
  const res = await call(`/v1/conversations/${id}/stream`, { token: session.accessToken, headers: { accept: 'text/event-stream' } });
  expect(res.status).toBe(200);
  const reader = new FeedReader(res.body!);
  await reader.until(() => reader.frames.some((f) => f.type === 'feed_ready'), 'feed_ready');
  return reader;
}

/** Alice with two devices and Bob with two, in an encrypted direct conversation. */
async function pairOfPairs() {
  const alice1 = await registerUser('alice');
  const bob1 = await registerUser('bob');
  const [alice2, bob2] = [await loginDevice(alice1, 'alice phone'), await loginDevice(bob1, 'bob phone')];
  const { id } = await createEncrypted(alice1, { kind: 'direct', peerId: bob1.user.id });
  return { alice1, alice2, bob1, bob2, id };
}

// ── Creation ─────────────────────────────────────────────────────────────────

describe('creating end-to-end encrypted conversations', () => {
  it('makes direct and group conversations encrypted, says so everywhere, and keeps a plain direct one apart', async () => {
    const [alice, bob, carol] = [await registerUser('alice'), await registerUser('bob'), await registerUser('carol')];
    const { lastCursor } = await poll(bob, { timeoutMs: 0 });
    const direct = await createEncrypted(alice, { kind: 'direct', peerId: bob.user.id });
    expect(direct.encrypted).toBe(true);
    // Asking again (from either side) finds the same one.
    expect((await createEncrypted(bob, { kind: 'direct', peerId: alice.user.id })).id).toBe(direct.id);
    const plain = (await json('/v1/conversations', { token: alice.accessToken, body: { kind: 'direct', peerId: bob.user.id } }, 201)).conversation;
    expect(plain.encrypted).toBe(false);
    expect(plain.id).not.toBe(direct.id);
    const group = await createEncrypted(alice, { kind: 'group', title: 'secret club', memberIds: [bob.user.id, carol.user.id] });
    expect(group.encrypted).toBe(true);
    for (const id of [direct.id, group.id]) {
      expect((await json(`/v1/conversations/${id}`, { token: bob.accessToken }, 200)).conversation.encrypted).toBe(true);
    }
    const list = await json('/v1/conversations', { token: bob.accessToken }, 200);
    const flags = Object.fromEntries(list.conversations.map((c: { id: string; encrypted: boolean }) => [c.id, c.encrypted]));
    expect(flags).toEqual({ [direct.id]: true, [plain.id]: false, [group.id]: true });
    // Bob's devices heard of each through a membership event saying whether it is encrypted.
    const joined = (await poll(bob, { cursor: lastCursor, timeoutMs: 0 })).events.flatMap((e) => (e.kind === 'membership' ? [[e.conversationId, e.encrypted]] : []));
    expect(Object.fromEntries(joined)).toEqual(flags);
  });

  it(`limits an encrypted group to ${E2EE.maxEncryptedGroupMembers} members, at creation and when adding`, async () => {
    const alice = await registerUser('alice');
    const others = await silentUsers(E2EE.maxEncryptedGroupMembers);
    const tooMany = await json('/v1/conversations', { token: alice.accessToken, body: { kind: 'group', title: 'big', memberIds: others, encrypted: true } }, 422);
    expect(tooMany.code).toBe('too_many_members');
    // A plain group of the same size is fine.
    await json('/v1/conversations', { token: alice.accessToken, body: { kind: 'group', title: 'big', memberIds: others } }, 201);
    const full = await createEncrypted(alice, { kind: 'group', title: 'full', memberIds: others.slice(1) });
    const refused = await json(`/v1/conversations/${full.id}/members`, { token: alice.accessToken, body: { userId: others[0] } }, 422);
    expect(refused.code).toBe('too_many_members');
    expect((await json(`/v1/conversations/${full.id}/members`, { token: alice.accessToken }, 200)).members).toHaveLength(E2EE.maxEncryptedGroupMembers);
  }, 60_000);

  it('stays encrypted after the object is evicted', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const { id } = await createEncrypted(alice, { kind: 'group', title: 'g', memberIds: [bob.user.id] });
    await evictDurableObject(conversationStub(env, id));
    expect((await json(`/v1/conversations/${id}`, { token: alice.accessToken }, 200)).conversation.encrypted).toBe(true);
    expect((await (await send(alice, id, { type: 'text', text: 'hello' })).json<any>()).code).toBe('encryption_required');
    await sendOk(alice, id, envelope([bob]));
  });
});

// ── What each conversation accepts ───────────────────────────────────────────

describe('content rules', () => {
  it('refuses plaintext in an encrypted conversation and envelopes in a plain one, on HTTP and the socket, storing nothing', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const { id } = await createEncrypted(alice, { kind: 'direct', peerId: bob.user.id });
    const plainId = (await json('/v1/conversations', { token: alice.accessToken, body: { kind: 'direct', peerId: bob.user.id } }, 201)).conversation.id;
    const before = [await lastSeq(alice, id), await lastSeq(alice, plainId)];

    for (const content of [{ type: 'text', text: 'in the clear' }, { type: 'media', mediaId: 'm_whatever' }]) {
      const res = await send(alice, id, content);
      expect(res.status).toBe(422);
      expect((await res.json<any>()).code).toBe('encryption_required');
    }
    const res = await send(alice, plainId, envelope([bob]));
    expect(res.status).toBe(422);
    expect((await res.json<any>()).code).toBe('encryption_not_enabled');

    const window = await openWindow(alice, id);
    window.send({ type: 'send', rid: 'r1', cmid: crypto.randomUUID(), content: { type: 'text', text: 'in the clear' } });
    expect((await window.next('error', (f) => f.rid === 'r1')).code).toBe('encryption_required');
    const plainWindow = await openWindow(alice, plainId);
    plainWindow.send({ type: 'send', rid: 'r2', cmid: crypto.randomUUID(), content: envelope([bob]) });
    expect((await plainWindow.next('error', (f) => f.rid === 'r2')).code).toBe('encryption_not_enabled');
    // The socket stays usable after a refusal.
    window.send({ type: 'send', rid: 'r3', cmid: crypto.randomUUID(), content: envelope([bob]) });
    await window.next('ack');
    window.close();
    plainWindow.close();

    expect([await lastSeq(alice, id), await lastSeq(alice, plainId)]).toEqual([before[0]! + 1, before[1]]);
  });

  it("refuses entries naming a non-member, the sending device itself or one device twice; the sender's other devices are fine", async () => {
    const { alice1, alice2, bob1, id } = await pairOfPairs();
    const stranger = await registerUser('stranger');
    const before = await lastSeq(alice1, id);
    const cases: [string, EncryptedEntry[]][] = [
      ['non-member', [entryFor(bob1), entryFor(stranger)]],
      ['own device', [entryFor(bob1), entryFor(alice1)]],
      ['twice', [entryFor(bob1), entryFor(bob1, 'again')]],
    ];
    for (const [what, entries] of cases) {
      const res = await send(alice1, id, { ...envelope([]), entries });
      expect(res.status, what).toBe(422);
      expect((await res.json<any>()).code, what).toBe('invalid_envelope');
    }
    expect(await lastSeq(alice1, id)).toBe(before);
    await sendOk(alice1, id, envelope([alice2, bob1]));
    // A sender key message with no entries at all is fine too.
    await sendOk(alice1, id, { type: 'encrypted', scheme: 'sender_key', body: 'c2VuZGVyLWtleQ' });
  });

  it('applies the same rules to edits, and an edit replaces the envelope', async () => {
    const { alice1, bob1, bob2, id } = await pairOfPairs();
    const seq = await sendOk(alice1, id, envelope([bob1, bob2], 'v1'));
    const edit = (content: unknown) => call(`/v1/conversations/${id}/messages/${seq}`, { token: alice1.accessToken, method: 'PATCH', body: { content } });
    expect((await (await edit({ type: 'text', text: 'clear' })).json<any>()).code).toBe('encryption_required');
    expect((await (await edit({ ...envelope([bob1]), entries: [entryFor(alice1)] })).json<any>()).code).toBe('invalid_envelope');
    const done = await (await edit(envelope([bob1, bob2], 'v2'))).json<any>();
    expect(done.seq).toBe(seq + 1);
    const history = (await json(`/v1/conversations/${id}/events?after=0`, { token: bob2.accessToken }, 200)).events as ConversationEvent[];
    // History shows the message as it is now: the new envelope, with bob2's entry only.
    expect(entriesAt(history, seq)).toEqual([entryFor(bob2, 'v2')]);
    expect(entriesAt(history, seq + 1)).toEqual([entryFor(bob2, 'v2')]);
    const versions = await json(`/v1/conversations/${id}/messages/${seq}/versions`, { token: bob1.accessToken }, 200);
    expect(versions.versions.map((v: { content: EncryptedContent }) => v.content.entries)).toEqual([[entryFor(bob1, 'v1')], [entryFor(bob1, 'v2')]]);
  });

  it('answers an idempotent resend with the original ack, and reactions, replies, receipts and deletes work as usual', async () => {
    const { alice1, bob1, id } = await pairOfPairs();
    const cmid = crypto.randomUUID();
    const first = await json(`/v1/conversations/${id}/messages`, { token: alice1.accessToken, body: { cmid, content: envelope([bob1]) } }, 201);
    const again = await json(`/v1/conversations/${id}/messages`, { token: alice1.accessToken, body: { cmid, content: envelope([bob1]) } }, 200);
    expect(again).toEqual({ ...first, duplicate: true });
    const reply = await json(`/v1/conversations/${id}/messages`, { token: bob1.accessToken, body: { cmid: crypto.randomUUID(), content: envelope([alice1]), replyToSeq: first.seq } }, 201);
    await json(`/v1/conversations/${id}/messages/${first.seq}/reactions`, { token: bob1.accessToken, body: { emoji: '👍' } }, 200);
    await json(`/v1/conversations/${id}/read`, { token: bob1.accessToken, body: { seq: reply.seq } }, 200);
    const history = (await json(`/v1/conversations/${id}/events?after=0`, { token: alice1.accessToken }, 200)).events as ConversationEvent[];
    const replied = history.find((e) => e.seq === reply.seq);
    expect(replied?.type === 'message' && replied.replyTo).toMatchObject({ seq: first.seq, quote: null });
    await json(`/v1/conversations/${id}/messages/${first.seq}?scope=everyone`, { token: alice1.accessToken, method: 'DELETE' }, 200);
    const after = (await json(`/v1/conversations/${id}/events?after=0`, { token: bob1.accessToken }, 200)).events as ConversationEvent[];
    const deleted = after.find((e) => e.seq === first.seq);
    expect(deleted?.type === 'message' && deleted.deleted && deleted.content).toBeUndefined();
  });
});

// ── Per-device delivery ──────────────────────────────────────────────────────

describe('each device gets its own entry only', () => {
  it('on chat windows, the conversation feed (SSE and a held long poll), history, and the device event stream (socket, SSE, held long poll), all open while it is sent', async () => {
    const { alice1, alice2, bob1, bob2, id } = await pairOfPairs();
    const readers = [alice2, bob1, bob2];
    const tip = await lastSeq(alice1, id);
    const cursors = new Map<string, number>();
    for (const d of readers) cursors.set(d.deviceId, (await poll(d, { timeoutMs: 0 })).lastCursor);

    const windows = new Map<string, TestSocket>();
    for (const d of [alice1, ...readers]) windows.set(d.deviceId, await openWindow(d, id));
    const feeds = new Map(await Promise.all(readers.map(async (d) => [d.deviceId, await openFeed(d, id)] as const)));
    const inboxes = new Map(await Promise.all(readers.map(async (d) => [d.deviceId, await openInbox(d)] as const)));
    const sses = new Map(await Promise.all(readers.map(async (d) => [d.deviceId, await openSse(d)] as const)));
    // Held long polls, of the feed and of the device event stream, before the send.
    const feedPolls = new Map(readers.map((d) => [d.deviceId, json(`/v1/conversations/${id}/poll?after=${tip}&timeoutMs=10000`, { token: d.accessToken }, 200)] as const));
    const devicePolls = new Map(readers.map((d) => [d.deviceId, poll(d, { cursor: cursors.get(d.deviceId)!, timeoutMs: 10_000 })] as const));
    await headStart(100);

    const seq = await sendOk(alice1, id, envelope(readers));

    for (const d of readers) {
      const own = [entryFor(d)];
      const window = windows.get(d.deviceId)!;
      await window.until(() => entriesAt(window.events(), seq), `the message on ${d.deviceId}'s window`);
      expect(entriesAt(window.events(), seq), 'window').toEqual(own);
      const feed = feeds.get(d.deviceId)!;
      await feed.until(() => entriesAt(feed.events(), seq), 'the message on the feed');
      expect(entriesAt(feed.events(), seq), 'feed SSE').toEqual(own);
      expect(entriesAt((await feedPolls.get(d.deviceId)!).events, seq), 'feed long poll').toEqual(own);
      const box = inboxes.get(d.deviceId)!;
      await box.until(() => entriesAt(conversationEvents(box.events(), id), seq), 'the message on the inbox socket');
      expect(entriesAt(conversationEvents(box.events(), id), seq), 'inbox socket').toEqual(own);
      const sse = sses.get(d.deviceId)!;
      await sse.until(() => entriesAt(conversationEvents(sse.events(), id), seq), 'the message on the device SSE');
      expect(entriesAt(conversationEvents(sse.events(), id), seq), 'device SSE').toEqual(own);
      expect(entriesAt(conversationEvents((await devicePolls.get(d.deviceId)!).events, id), seq), 'device long poll').toEqual(own);
      const history = await json(`/v1/conversations/${id}/events?after=${tip}`, { token: d.accessToken }, 200);
      expect(entriesAt(history.events, seq), 'history').toEqual(own);
      window.send({ type: 'history', rid: 'h', after: tip });
      expect(entriesAt((await window.next('history', (f) => f.rid === 'h')).events, seq), 'history frame').toEqual(own);
    }
    // The sending device has no entry of its own; everyone gets the shared body.
    const sender = windows.get(alice1.deviceId)!;
    await sender.until(() => entriesAt(sender.events(), seq), 'the message on the sender window');
    expect(entriesAt(sender.events(), seq)).toEqual([]);
    const bodies = [...windows.values()].map((w) => {
      const m = w.events().find((e) => e.seq === seq);
      return m?.type === 'message' && m.content?.type === 'encrypted' ? m.content.body : null;
    });
    expect(new Set(bodies)).toEqual(new Set(['sealed-m']));

    // An edit: the same on a live window and on the device stream.
    await json(`/v1/conversations/${id}/messages/${seq}`, { token: alice1.accessToken, method: 'PATCH', body: { content: envelope(readers, 'e') } }, 200);
    for (const d of readers) {
      const window = windows.get(d.deviceId)!;
      await window.until(() => entriesAt(window.events(), seq + 1), 'the edit on the window');
      expect(entriesAt(window.events(), seq + 1)).toEqual([entryFor(d, 'e')]);
      const box = inboxes.get(d.deviceId)!;
      await box.until(() => entriesAt(conversationEvents(box.events(), id), seq + 1), 'the edit on the inbox socket');
      expect(entriesAt(conversationEvents(box.events(), id), seq + 1)).toEqual([entryFor(d, 'e')]);
    }

    for (const w of windows.values()) w.close();
    for (const f of feeds.values()) f.close();
    for (const b of inboxes.values()) b.close();
    for (const s of sses.values()) s.close();
  }, 60_000);

  it("keeps only the user's devices' entries in their queue, and a device reading its backlog later gets its own entry", async () => {
    const { alice1, bob1, bob2, id } = await pairOfPairs();
    // The queue keeps rows for devices it knows (from their first read).
    for (const d of [bob1, bob2]) await poll(d, { timeoutMs: 0 });
    const seq = await sendOk(alice1, id, envelope([bob1, bob2]));
    // Bob's object holds the envelope with Bob's entries (never Alice's devices').
    await expect
      .poll(async () => runInDurableObject(env.USERS.getByName(bob1.user.id) as DurableObjectStub<UserDO>, (_i, state) =>
        state.storage.sql.exec<{ payload: string }>('SELECT payload FROM queue').toArray().map((r) => r.payload).filter((p) => p.includes('sealed-m'))), { timeout: 10_000 })
      .toHaveLength(1);
    const stored = await runInDurableObject(env.USERS.getByName(bob1.user.id) as DurableObjectStub<UserDO>, (_i, state) =>
      state.storage.sql.exec<{ payload: string }>('SELECT payload FROM queue').toArray().map((r) => JSON.parse(r.payload)).find((p) => p.event?.seq === seq));
    expect(stored.event.content.entries.map((e: EncryptedEntry) => e.deviceId).sort()).toEqual([bob1.deviceId, bob2.deviceId].sort());
    // Each device reads its backlog afterwards: its own entry.
    for (const d of [bob1, bob2]) {
      const page = await poll(d, { cursor: 0, timeoutMs: 0 });
      expect(entriesAt(conversationEvents(page.events, id), seq)).toEqual([entryFor(d)]);
    }
    // A device added after the message has no entry for it (its queue starts after it, history has none for it).
    const later = await loginDevice(bob1, 'bob tablet');
    expect(conversationEvents((await poll(later, { timeoutMs: 0 })).events, id)).toEqual([]);
    const history = await json(`/v1/conversations/${id}/events?after=0`, { token: later.accessToken }, 200);
    expect(entriesAt(history.events, seq)).toEqual([]);
  });

  it('passes every other event, devices_changed included, unchanged (the same objects)', () => {
    const author = { userId: 'u_a', deviceId: 'd_a' };
    const events: ConversationEvent[] = [
      { type: 'devices_changed', seq: 1, ts: 1, author, userId: 'u_b', version: 2 },
      { type: 'message', seq: 2, ts: 2, author, cmid: 'cmid-0001', content: { type: 'text', text: 'hi' } },
      { type: 'member_added', seq: 3, ts: 3, author, userId: 'u_c', role: 'member' },
      { type: 'reaction', seq: 4, ts: 4, author, targetSeq: 2, emoji: '👍', op: 'add' },
    ];
    expect(eventsForDevice(events, { userId: 'u_b', deviceId: 'd_b' })).toBe(events);
    const sealed: ConversationEvent = { type: 'message', seq: 5, ts: 5, author, cmid: 'cmid-0002', content: { type: 'encrypted', scheme: 'pairwise', body: 'eA', entries: [
      { userId: 'u_b', deviceId: 'd_b', kind: 'message', data: 'Yg' },
      { userId: 'u_b', deviceId: 'd_c', kind: 'prekey', data: 'Yw' },
    ] } };
    const out = eventsForDevice([...events, sealed], { userId: 'u_b', deviceId: 'd_c' });
    expect(out.slice(0, 4).every((e, i) => e === events[i])).toBe(true);
    expect(out[4]).toMatchObject({ content: { entries: [{ deviceId: 'd_c' }] } });
    // The same device id under another user is not that device.
    expect(eventsForDevice([sealed], { userId: 'u_x', deviceId: 'd_b' })[0]).toMatchObject({ content: { entries: [] } });
  });

  it("the sockets' encoder gives each device exactly the text of its narrowed events, for any batch", () => {
    const author = { userId: 'u_a', deviceId: 'd_a' };
    const devices = [{ userId: 'u_b', deviceId: 'd_1' }, { userId: 'u_b', deviceId: 'd_2' }, { userId: 'u_c', deviceId: 'd_1' }, { userId: 'u_d', deviceId: 'd_9' }];
    const entries = devices.slice(0, 3).map((d, i) => ({ ...d, kind: 'message' as const, data: `x${i}` }));
    const batch: ConversationEvent[] = [
      { type: 'message', seq: 1, ts: 1, author, cmid: 'cmid-0001', content: { type: 'encrypted', scheme: 'pairwise', body: 'Ym9keQ', entries, mediaIds: ['m_1'] } },
      { type: 'devices_changed', seq: 2, ts: 2, author, userId: 'u_b', version: 3 },
      { type: 'message', seq: 3, ts: 3, author, cmid: 'cmid-0002', content: { type: 'text', text: 'entries "encrypted" \u0000' } },
      { type: 'message_edited', seq: 4, ts: 4, author, targetSeq: 1, content: { type: 'encrypted', scheme: 'sender_key', body: 'c2s', entries: entries.slice(1) } },
    ];
    const frame = { type: 'events', conversationId: 'g_1', events: batch };
    const encode = perDeviceEncoder(frame);
    for (const d of devices) expect(encode(d)).toBe(JSON.stringify({ ...frame, events: eventsForDevice(batch, d) }));
    const deliver = { type: 'deliver', events: batch.map((event, i) => ({ kind: 'event' as const, cursor: i + 1, conversationId: 'g_1', event })) };
    const encodeDeliver = perDeviceEncoder(deliver);
    for (const d of devices) expect(encodeDeliver(d)).toBe(JSON.stringify({ ...deliver, events: deliver.events.map((e) => deviceEventFor(e, d)) }));
  });
});

// ── Media, push, list, search ────────────────────────────────────────────────

describe('around the messages', () => {
  it('attaches media uploaded encrypted to this conversation, and refuses media uploaded in the clear', async () => {
    const { alice1, bob1, id } = await pairOfPairs();
    const bytes = crypto.getRandomValues(new Uint8Array(2048));
    const ticket = await ticketFor(alice1, id, bytes, { contentType: 'application/octet-stream', encrypted: true });
    if (ticket.upload.kind !== 'single') throw new Error('expected a single upload');
    expect((await put(ticket.upload.url, bytes)).status).toBe(201);
    // Bob cannot fetch it before a message shares it.
    expect((await call(`/v1/media/${ticket.mediaId}`, { token: bob1.accessToken })).status).toBe(404);
    await sendOk(alice1, id, envelope([bob1], 'media', { mediaIds: [ticket.mediaId] }));
    const got = await call(`/v1/media/${ticket.mediaId}`, { token: bob1.accessToken });
    expect(got.status).toBe(200);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(bytes);

    const clear = await uploadWhole(alice1, id, LANDSCAPE_PNG, 'image/png');
    const res = await send(alice1, id, envelope([bob1], 'media', { mediaIds: [clear.mediaId] }));
    expect(res.status).toBe(404);
    expect((await res.json<any>()).code).toBe('media_not_found');
  });

  it('makes push jobs that say nothing but "New message"', async () => {
    const { alice1, bob1, id } = await pairOfPairs();
    const seq = await sendOk(alice1, id, envelope([bob1]));
    const user = env.USERS.getByName(bob1.user.id) as DurableObjectStub<UserDO>;
    await expect.poll(() => runInDurableObject(user, (_i, state) => inbox.describe(state.storage.sql, id)?.encrypted), { timeout: 10_000 }).toBe(true);
    const describe = await runInDurableObject(user, (_i, state) => inbox.describe(state.storage.sql, id));
    const event: DeviceEvent = { kind: 'event', cursor: 1, conversationId: id, event: { type: 'message', seq, ts: 1, author: deviceOf(alice1), cmid: 'cmid-0001', content: envelope([bob1]) } };
    const [job] = pushCandidates(bob1.user.id, [event], () => describe);
    expect(job).toMatchObject({ e2e: true, preview: null, conversationTitle: null });
    const payload = payloadFor({ ...job!, senderName: 'Alice' });
    expect({ title: payload.title, body: payload.body }).toEqual(GENERIC_NOTIFICATION);
    expect(JSON.stringify(payload)).not.toContain('Alice');
  });

  it('never filters content: the same envelope to many conversations is fine, and a report keeps no ciphertext', async () => {
    const alice = await registerUser('alice');
    const peers = [await registerUser('p'), await registerUser('p'), await registerUser('p'), await registerUser('p'), await registerUser('p')];
    // Plain text like this is refused from the fourth conversation on (repeated_text); envelopes are never inspected.
    const same = { type: 'encrypted', scheme: 'sender_key', body: 'VGhlIHNhbWUgbG9uZyBtZXNzYWdlIHNlbnQgZXZlcnl3aGVyZSwgYWdhaW4gYW5kIGFnYWlu' };
    let last = { id: '', seq: 0 };
    for (const peer of peers) {
      const { id } = await createEncrypted(alice, { kind: 'direct', peerId: peer.user.id });
      last = { id, seq: await sendOk(alice, id, same) };
    }
    await json('/v1/reports', { token: peers.at(-1)!.accessToken, body: { kind: 'message', conversationId: last.id, seq: last.seq, reason: 'spam' } }, 201);
    const row = await env.DB.prepare('SELECT content FROM reports WHERE conversation_id = ? AND seq = ?').bind(last.id, last.seq).first<{ content: string | null }>();
    expect(row).toEqual({ content: null });
  });

  it('lists the conversation as encrypted with no preview, and search says it is unavailable', async () => {
    const { alice1, bob1, id } = await pairOfPairs();
    await sendOk(alice1, id, envelope([bob1]));
    await expect
      .poll(async () => (await json('/v1/conversations', { token: bob1.accessToken }, 200)).conversations.find((c: { id: string }) => c.id === id)?.lastSeq, { timeout: 10_000 })
      .toBeGreaterThan(0);
    const summary = (await json('/v1/conversations', { token: bob1.accessToken }, 200)).conversations.find((c: { id: string }) => c.id === id);
    expect(summary).toMatchObject({ encrypted: true, preview: null, unreadCount: 1 });
    expect((await json(`/v1/conversations/${id}/search?q=sealed`, { token: bob1.accessToken }, 409)).code).toBe('search_unavailable');
    const across = await json('/v1/search?q=sealed', { token: bob1.accessToken }, 200);
    expect(across.unavailable).toContain(id);
    expect(across.results).toEqual([]);
  });
});
