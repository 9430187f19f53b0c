import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { env } from 'cloudflare:workers';
import { call, createDirect, createGroup, json, openWindow, registerUser } from './helpers.js';
import { mature, storedBy } from './abuse-helpers.js';
import { CONTENT_FILTER, assertAcceptable, normalise, textHash } from '../../src/moderation/filter.js';
import { REPUTATION, TIER_LIMITS } from '../../src/ratelimit/rules.js';
import { TypingTracker } from '../../src/conversation/typing.js';
import { AppError } from '../../src/errors.js';
import type { Session } from '../../src/protocol/index.js';

const send = (session: Session, id: string, text: string) =>
  call(`/v1/conversations/${id}/messages`, { token: session.accessToken, body: { cmid: crypto.randomUUID(), content: { type: 'text', text } } });

async function rejected(res: Response, rule: string): Promise<void> {
  expect(res.status).toBe(422);
  expect(await res.json()).toMatchObject({ code: 'content_rejected', rule });
}

describe('content filter', () => {
  it('blocked terms, too many links and the same text in too many conversations are rejected with content_rejected; nothing stored', async () => {
    const alice = await registerUser('alice');
    const bob = await registerUser('bob');
    const ids = [];
    for (let i = 0; i < CONTENT_FILTER.repeat.maxConversations + 1; i++) ids.push(await createGroup(alice, [bob], `g${i}`));
    const first = ids[0]!;
    await rejected(await send(alice, first, `Join the FREE   crypto giveaway now`), 'blocked_term');
    const links = Array.from({ length: CONTENT_FILTER.maxLinks + 1 }, (_, i) => `https://example.com/${i}`).join(' ');
    await rejected(await send(alice, first, links), 'too_many_links');
    expect(await storedBy(first, alice.user.id)).toBe(0);

    const spam = 'Check out my amazing new profile page today';
    for (const id of ids.slice(0, -1)) expect((await send(alice, id, spam)).status).toBe(201);
    await rejected(await send(alice, ids.at(-1)!, `  check out my AMAZING new profile page today `), 'repeated_text');
    expect(await storedBy(ids.at(-1)!, alice.user.id)).toBe(0);
    // Short everyday texts never count as repeats.
    for (const id of ids) expect((await send(alice, id, 'ok, thanks!')).status).toBe(201);
    // Someone else may still say the same thing.
    expect((await send(bob, ids.at(-1)!, spam)).status).toBe(201);
  });

  it('the rules as plain functions', () => {
    const config = { ...CONTENT_FILTER, blockedTerms: ['spam'] };
    expect(() => assertAcceptable('no spamming here', config, new Set())).not.toThrow();
    expect(() => assertAcceptable('this is SPAM.', config, new Set())).toThrow(AppError);
    const text = 'a long enough text to be considered for repeats';
    expect(() => assertAcceptable(text, config, new Set([textHash(text)]))).toThrow(/at most/);
    expect(textHash('Same  TEXT')).toBe(textHash('same text'));
    // Compatibility forms fold (full-width letters, a ligature), ASCII or not.
    expect(textHash('ＳＰＡＭ ﬁle')).toBe(textHash('spam file'));
    expect(() => assertAcceptable('this is ＳＰＡＭ', config, new Set())).toThrow(AppError);
  });

  it('ASCII text normalises as if it went through NFKC (it skips the fold)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 40 }), (text) => {
        expect(normalise(text)).toBe(text.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim());
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('blocking', () => {
  it('a blocked user cannot start a direct conversation or message you in one; unblocking restores it; the list shows blocks', async () => {
    const alice = await registerUser('alice');
    const bob = await registerUser('bob');
    const carol = await registerUser('carol');
    const direct = await createDirect(alice, bob);
    expect((await send(bob, direct, 'hi alice')).status).toBe(201);
    expect((await call(`/v1/blocks/${bob.user.id}`, { token: alice.accessToken, method: 'PUT' })).status).toBe(204);
    const refused = await send(bob, direct, 'hello?');
    expect(refused.status).toBe(403);
    expect((await refused.json<any>()).code).toBe('forbidden');
    expect(await storedBy(direct, bob.user.id)).toBe(1);
    // Alice may still write to Bob.
    expect((await send(alice, direct, 'bye')).status).toBe(201);

    await call(`/v1/blocks/${carol.user.id}`, { token: alice.accessToken, method: 'PUT' });
    const start = await call('/v1/conversations', { token: carol.accessToken, body: { kind: 'direct', peerId: alice.user.id } });
    expect(start.status).toBe(403);
    const list = await json('/v1/blocks', { token: alice.accessToken }, 200);
    expect(list.blocks.map((b: any) => b.userId).sort()).toEqual([bob.user.id, carol.user.id].sort());

    expect((await call(`/v1/blocks/${bob.user.id}`, { token: alice.accessToken, method: 'DELETE' })).status).toBe(204);
    expect((await send(bob, direct, 'friends again')).status).toBe(201);
    expect((await json('/v1/blocks', { token: alice.accessToken }, 200)).blocks).toHaveLength(1);
  });

  it("a blocked user's presence and typing are hidden from you, not from others", async () => {
    const alice = await registerUser('alice');
    const bob = await registerUser('bob');
    const carol = await registerUser('carol');
    const group = await createGroup(alice, [bob, carol]);
    await call(`/v1/blocks/${bob.user.id}`, { token: alice.accessToken, method: 'PUT' });
    const bobWindow = await openWindow(bob, group);
    const aliceWindow = await openWindow(alice, group);
    const carolWindow = await openWindow(carol, group);
    bobWindow.send({ type: 'typing', state: 'start' });
    await carolWindow.next('typing', (f) => f.userId === bob.user.id);
    // Bob's window being open makes him online: Alice is told he is not, Carol the truth.
    const seenBy = async (viewer: Session) =>
      (await json('/v1/presence/query', { token: viewer.accessToken, body: { userIds: [bob.user.id] } }, 200)).presence[0];
    expect(await seenBy(alice)).toEqual({ userId: bob.user.id, online: false, lastSeenAt: null });
    // And Bob does not see Alice's presence either.
    const aliceSeenByBob = (await json('/v1/presence/query', { token: bob.accessToken, body: { userIds: [alice.user.id] } }, 200)).presence[0];
    expect(aliceSeenByBob).toMatchObject({ online: false, lastSeenAt: null });
    carolWindow.send({ type: 'typing', state: 'start' });
    await aliceWindow.next('typing', (f) => f.userId === carol.user.id);
    expect(aliceWindow.frames.some((f) => (f.type === 'typing' || f.type === 'presence') && f.userId === bob.user.id)).toBe(false);
    for (const w of [aliceWindow, bobWindow, carolWindow]) w.close();
  });
});

describe('reports', () => {
  it('a message report keeps the content for moderators; reports by distinct users demote the author to the new tier', async () => {
    const spammer = await mature(await registerUser('spammer'));
    const reporters = [];
    for (let i = 0; i < REPUTATION.reportersToDemote; i++) reporters.push(await registerUser(`reporter${i}`));
    const group = await createGroup(spammer, reporters);
    const ack = await (await send(spammer, group, 'buy my stuff')).json<any>();
    const body = { kind: 'message', conversationId: group, seq: ack.seq, reason: 'spam' };
    const first = await json('/v1/reports', { token: reporters[0]!.accessToken, body }, 201);
    // Reporting again changes nothing.
    expect(await json('/v1/reports', { token: reporters[0]!.accessToken, body }, 200)).toEqual({ reportId: first.reportId, duplicate: true });
    const row = await env.DB.prepare('SELECT * FROM reports WHERE id = ?').bind(first.reportId).first<any>();
    expect(row).toMatchObject({ reporter_id: reporters[0]!.user.id, target_user_id: spammer.user.id, conversation_id: group, seq: ack.seq, reason: 'spam' });
    expect(JSON.parse(row.content)).toEqual({ type: 'text', text: 'buy my stuff' });

    // Not demoted yet: standard limits.
    const conversationLimit = (tier: 'new' | 'standard') => TIER_LIMITS[tier].conversationMessages.limit;
    for (const r of reporters.slice(1)) await json('/v1/reports', { token: r.accessToken, body: { kind: 'user', userId: spammer.user.id, reason: 'spam' } }, 201);
    const statuses: number[] = [];
    for (let i = 0; i < conversationLimit('new') + 1; i++) statuses.push((await send(spammer, group, `more ${i}`)).status);
    // One message was sent before; the new tier's per-conversation limit now binds.
    expect(statuses.filter((s) => s === 201)).toHaveLength(conversationLimit('new') - 1);
    expect(statuses.at(-1)).toBe(429);
  });

  it('only members can report a message, and nobody can report themselves', async () => {
    const alice = await registerUser('alice');
    const bob = await registerUser('bob');
    const outsider = await registerUser('outsider');
    const group = await createGroup(alice, [bob]);
    const ack = await (await send(alice, group, 'hello')).json<any>();
    const res = await json('/v1/reports', { token: outsider.accessToken, body: { kind: 'message', conversationId: group, seq: ack.seq, reason: 'x' } }, 404);
    expect(res.code).toBe('conversation_not_found');
    expect(JSON.stringify(res)).not.toContain('hello');
    await json('/v1/reports', { token: alice.accessToken, body: { kind: 'message', conversationId: group, seq: ack.seq, reason: 'x' } }, 400);
    await json('/v1/reports', { token: alice.accessToken, body: { kind: 'user', userId: alice.user.id, reason: 'x' } }, 400);
  });
});

describe('other limits', () => {
  it('presence queries, media upload requests and read receipts refuse past the tier limit with Retry-After', async () => {
    const alice = await registerUser('alice');
    const bob = await registerUser('bob');
    const group = await createGroup(alice, [bob]);
    const rules = TIER_LIMITS.new;
    const over = async (n: number, request: () => Promise<Response>) => {
      for (let i = 0; i < n; i++) expect((await request()).status).toBeLessThan(300);
      const refused = await request();
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await refused.json<any>()).code).toBe('rate_limited');
    };
    await over(rules.presenceQueries.limit, () => call('/v1/presence/query', { token: alice.accessToken, body: { userIds: [bob.user.id] } }));
    const upload = { conversationId: group, contentType: 'image/png', size: 10, sha256: 'a'.repeat(64), encrypted: false };
    await over(rules.mediaUploads.limit, () => call('/v1/media', { token: alice.accessToken, body: upload }));
    await send(alice, group, 'something to read');
    await over(rules.receipts.limit, () => call(`/v1/conversations/${group}/read`, { token: bob.accessToken, body: { seq: 1 } }));
  });

  it('typing: one start per second per device, and the tier window on top', () => {
    const tracker = new TypingTracker(() => undefined);
    const rule = TIER_LIMITS.new.typing;
    let now = 0;
    expect(tracker.update('u', 'd', 'start', now, rule).kind).toBe('broadcast');
    expect(tracker.update('u', 'd', 'start', now + 500, rule)).toEqual({ kind: 'rate_limited', retryAfterMs: 500 });
    for (let i = 1; i < rule.limit; i++) expect(tracker.update('u', 'd', 'start', (now += 1_000), rule).kind).toBe('broadcast');
    const refused = tracker.update('u', 'd', 'start', (now += 1_000), rule);
    expect(refused).toEqual({ kind: 'rate_limited', retryAfterMs: rule.windowMs - now });
    expect(tracker.update('u', 'd', 'start', rule.windowMs + 1, rule).kind).toBe('broadcast');
    tracker.forget('u', 'd');
  });
});

describe('revocation reaches live sockets', () => {
  it("a revoked device's chat windows close at once; a removed member's too", async () => {
    const alice = await registerUser('alice');
    const laptop = await json<Session>('/v1/auth/login', { body: { handle: alice.user.handle, password: 'correct horse battery', deviceName: 'laptop' } }, 200);
    const bob = await registerUser('bob');
    const group = await createGroup(alice, [bob]);
    const direct = await createDirect(alice, bob);
    const windows = [await openWindow(laptop, group), await openWindow(laptop, direct)];
    const phone = await openWindow(alice, group);
    expect((await call(`/v1/devices/${laptop.deviceId}`, { token: alice.accessToken, method: 'DELETE' })).status).toBe(204);
    for (const w of windows) expect((await w.waitClosed(5_000)).code).toBe(4004);
    // The other device is untouched.
    expect(phone.closed).toBeNull();

    const bobWindow = await openWindow(bob, group);
    expect((await call(`/v1/conversations/${group}/members/${bob.user.id}`, { token: alice.accessToken, method: 'DELETE' })).status).toBe(204);
    expect((await bobWindow.waitClosed(5_000)).code).toBe(4003);
    phone.close();
  });
});
