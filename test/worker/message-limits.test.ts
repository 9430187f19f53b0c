import { describe, expect, it } from 'vitest';
import { call, createGroup, json, openWindow, registerUser } from './helpers.js';
import { mature, storedBy, travel } from './abuse-helpers.js';
import { TIER_LIMITS } from '../../src/ratelimit/rules.js';
import { grantLease, type LeaseGrant, type LeaseRequest, type SendReport } from '../../src/ratelimit/allowance.js';
import { decide } from '../../src/ratelimit/sliding-window.js';
import { evictDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import fc from 'fast-check';
import type { Session } from '../../src/protocol/index.js';

const send = (session: Session, id: string, text: string) =>
  call(`/v1/conversations/${id}/messages`, { token: session.accessToken, body: { cmid: crypto.randomUUID(), content: { type: 'text', text } } });

describe('message limits', () => {
  it('150 sends in a minute across 3 conversations: exactly 100 stored, the rest told when to retry; then sending works again', async () => {
    const alice = await mature(await registerUser('alice'));
    const bob = await registerUser('bob');
    const ids = [await createGroup(alice, [bob], 'one'), await createGroup(alice, [bob], 'two'), await createGroup(alice, [bob], 'three')];
    const startedAt = Date.now();
    const refusals: { retryAfterMs: number; at: number; header: string | null }[] = [];
    let stored = 0;
    for (let i = 0; i < 150; i++) {
      const res = await send(alice, ids[i % 3]!, `message ${i}`);
      if (res.status === 201) {
        stored++;
        continue;
      }
      expect(res.status).toBe(429);
      const body = await res.json<any>();
      expect(body.code).toBe('rate_limited');
      refusals.push({ retryAfterMs: body.retryAfterMs, at: Date.now(), header: res.headers.get('retry-after') });
    }
    expect(Date.now() - startedAt).toBeLessThan(60_000);
    expect(stored).toBe(TIER_LIMITS.standard.userMessages.limit);
    expect(refusals).toHaveLength(50);
    const perConversation = await Promise.all(ids.map((id) => storedBy(id, alice.user.id)));
    expect(perConversation.reduce((a, b) => a + b, 0)).toBe(100);
    // The retry time is when the first of the 100 leaves the window (give or take the test's own pace).
    for (const r of refusals) {
      expect(r.retryAfterMs).toBeGreaterThan(0);
      expect(r.at + r.retryAfterMs).toBeGreaterThanOrEqual(startedAt + 60_000 - 50);
      expect(r.at + r.retryAfterMs).toBeLessThanOrEqual(Date.now() + 60_000);
      expect(Number(r.header)).toBe(Math.ceil(r.retryAfterMs / 1000));
    }

    // A minute later (moved in time rather than waited for), the window has passed.
    await travel(alice.user.id, ids, 61_000);
    for (const id of ids) expect((await send(alice, id, 'after the window')).status).toBe(201);
  });

  it('the new-account tier is stricter, by the documented numbers', async () => {
    const fresh = await registerUser('fresh');
    const bob = await registerUser('bob');
    const [a, b] = [await createGroup(fresh, [bob], 'a'), await createGroup(fresh, [bob], 'b')];
    const rules = TIER_LIMITS.new;
    const statuses = async (id: string, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await send(fresh, id, `new ${i}`)).status);
      return out;
    };
    // Per conversation first, then the per-user limit across both.
    const inA = await statuses(a, rules.conversationMessages.limit + 3);
    expect(inA.filter((s) => s === 201)).toHaveLength(rules.conversationMessages.limit);
    expect(inA.slice(rules.conversationMessages.limit).every((s) => s === 429)).toBe(true);
    const inB = await statuses(b, rules.conversationMessages.limit);
    expect(inB.filter((s) => s === 201)).toHaveLength(rules.userMessages.limit - rules.conversationMessages.limit);
    expect((await storedBy(a, fresh.user.id)) + (await storedBy(b, fresh.user.id))).toBe(rules.userMessages.limit);
    expect(rules.userMessages.limit).toBeLessThan(TIER_LIMITS.standard.userMessages.limit);
    expect(rules.conversationMessages.limit).toBeLessThan(TIER_LIMITS.standard.conversationMessages.limit);
  });

  it('over a socket: order kept across lease waits, refusals are error frames with retryAfterMs and the cmid, nothing stored', async () => {
    const alice = await mature(await registerUser('alice'));
    const bob = await registerUser('bob');
    const id = await createGroup(alice, [bob]);
    const window = await openWindow(alice, id);
    const limit = TIER_LIMITS.standard.conversationMessages.limit;
    const cmids = Array.from({ length: limit + 5 }, (_, i) => `c${i}-${crypto.randomUUID().slice(0, 8)}`);
    for (const [i, cmid] of cmids.entries()) window.send({ type: 'send', cmid, content: { type: 'text', text: `socket ${i}` } });
    await window.until((f) => f.filter((x) => x.type === 'ack' || x.type === 'error').length === cmids.length, 'every reply', 20_000);
    const replies = window.frames.filter((f) => f.type === 'ack' || f.type === 'error');
    // Replies come in the order the frames were sent, and acks carry consecutive seqs.
    expect(replies.map((f) => (f as { cmid?: string }).cmid)).toEqual(cmids);
    const acks = replies.slice(0, limit);
    expect(acks.map((f) => (f.type === 'ack' ? f.seq : -1))).toEqual(Array.from({ length: limit }, (_, i) => i + 1));
    for (const f of replies.slice(limit)) {
      expect(f).toMatchObject({ type: 'error', code: 'rate_limited' });
      expect(f.type === 'error' && f.retryAfterMs).toBeGreaterThan(0);
    }
    expect(await storedBy(id, alice.user.id)).toBe(limit);
    window.close();
  });

  it('a socket carries the tier from ticket redemption', async () => {
    const fresh = await registerUser('fresh');
    const bob = await registerUser('bob');
    const id = await createGroup(fresh, [bob]);
    const window = await openWindow(fresh, id);
    const limit = TIER_LIMITS.new.conversationMessages.limit;
    for (let i = 0; i <= limit; i++) window.send({ type: 'send', cmid: `cmid-n-${i}`, content: { type: 'text', text: `n ${i}` } });
    const refused = await window.next('error', (f) => f.cmid === `cmid-n-${limit}`);
    expect(refused.code).toBe('rate_limited');
    expect(await storedBy(id, fresh.user.id)).toBe(limit);
    window.close();
  });

  it('leases: other live leases count as spent; near the limit they shrink to one send', () => {
    const rule = { limit: 100, windowMs: 60_000 };
    const repeat = { maxConversations: 3, windowMs: 600_000 };
    const now = 1_000_000;
    const hits = Array.from({ length: 90 }, (_, i) => now - 50_000 + i);
    const other = { conversationId: 'b', hits: [], texts: [], leaseTokens: 6, leaseExpiresAt: now + 5_000 };
    expect(grantLease([other], { conversationId: 'a', hits, texts: [], rule, want: 50, repeat }, now)).toMatchObject({ granted: 2 });
    const full = grantLease([{ ...other, leaseTokens: 10 }], { conversationId: 'a', hits, texts: [], rule, want: 50, repeat }, now);
    expect(full).toMatchObject({ granted: 0, retryAfterMs: 10_000 });
    // An expired lease no longer counts (the UserDO settles it from the log first).
    expect(grantLease([{ ...other, leaseExpiresAt: now }], { conversationId: 'a', hits, texts: [], rule, want: 50, repeat }, now)).toMatchObject({ granted: 5 });
  });

  it('leases decide as if every outstanding token were a send made now (property, against the list it stands for)', () => {
    const now = 10_000_000;
    const rule = { limit: 40, windowMs: 60_000 };
    const repeat = { maxConversations: 3, windowMs: 600_000 };
    const hit = fc.integer({ min: now - 90_000, max: now });
    const report = fc.record({ hits: fc.array(hit, { maxLength: 30 }), tokens: fc.nat(30), live: fc.boolean() });
    fc.assert(
      fc.property(fc.array(hit, { maxLength: 30 }), fc.array(report, { maxLength: 4 }), (mine, reports) => {
        const others: SendReport[] = reports.map((r, i) => ({
          conversationId: `c${i}`,
          hits: [...r.hits].sort((a, b) => a - b),
          texts: [],
          leaseTokens: r.tokens,
          leaseExpiresAt: r.live ? now + 1 : now,
        }));
        const request: LeaseRequest = { conversationId: 'mine', hits: [...mine].sort((a, b) => a - b), texts: [], rule, want: rule.limit, repeat };
        const grant = grantLease(others, request, now);
        // The reference: every hit in the window, then each live token as a send at `now`.
        const all = [...mine, ...others.flatMap((o) => o.hits)].filter((t) => t > now - rule.windowMs).sort((a, b) => a - b);
        for (const o of others) if (o.leaseExpiresAt > now) all.push(...Array<number>(o.leaseTokens).fill(now));
        const decision = decide(all, now, rule);
        if (decision.allowed) expect(grant).toMatchObject({ granted: expect.any(Number), expiresAt: expect.any(Number) });
        else expect(grant).toEqual({ granted: 0, retryAfterMs: decision.retryAfterMs, repeated: [] } satisfies LeaseGrant);
      }),
      { numRuns: 500 },
    );
  });

  it('a raised limit (the service tier, set by a deployment) leases millions of tokens and still decides at once', () => {
    const now = 5_000_000;
    const rule = { limit: 2 ** 32, windowMs: 60_000 };
    const repeat = { maxConversations: 3, windowMs: 600_000 };
    const other: SendReport = { conversationId: 'busy', hits: [now - 1_000], texts: [], leaseTokens: 2 ** 32, leaseExpiresAt: now + 5_000 };
    // Every token is held by the other conversation's live lease: wait a whole window.
    expect(grantLease([other], { conversationId: 'new', hits: [], texts: [], rule, want: 10, repeat }, now)).toEqual({ granted: 0, retryAfterMs: rule.windowMs, repeated: [] });
    expect(grantLease([{ ...other, leaseTokens: 2 ** 31 }], { conversationId: 'new', hits: [], texts: [], rule, want: 10, repeat }, now)).toMatchObject({ granted: 10 });
  });

  it('the per-conversation window is kept across sends and read again from the log after an eviction', async () => {
    const alice = await mature(await registerUser('alice'));
    const bob = await registerUser('bob');
    const id = await createGroup(alice, [bob]);
    const limit = TIER_LIMITS.standard.conversationMessages.limit;
    for (let i = 0; i < limit; i++) expect((await send(alice, id, `m ${i}`)).status).toBe(201);
    const refused = await send(alice, id, 'one too many');
    expect(refused.status).toBe(429);
    const before = (await refused.json<{ retryAfterMs: number }>()).retryAfterMs;
    await evictDurableObject(env.CONVERSATIONS.getByName(id));
    const again = await send(alice, id, 'still too many');
    expect(again.status).toBe(429);
    const after = (await again.json<{ retryAfterMs: number }>()).retryAfterMs;
    expect(after).toBeLessThanOrEqual(before);
    expect(after).toBeGreaterThan(before - 10_000);
    expect(await storedBy(id, alice.user.id)).toBe(limit);
    // Moved past the window, the same instance's memory lets sends through again.
    await travel(alice.user.id, [id], 61_000);
    expect((await send(alice, id, 'after the window')).status).toBe(201);
  });

  it('a resend is acked as the first send even over the limit, and spends none of the allowance', async () => {
    const fresh = await registerUser('fresh');
    const bob = await registerUser('bob');
    const id = await createGroup(fresh, [bob]);
    const path = `/v1/conversations/${id}/messages`;
    const post = (cmid: string) => call(path, { token: fresh.accessToken, body: { cmid, content: { type: 'text', text: `text of ${cmid}` } } });
    const first = await (await post('resend-first')).json<{ seq: number }>();
    // Resent more times than the whole per-user limit: every one is the first ack, nothing stored twice.
    for (let i = 0; i < TIER_LIMITS.new.userMessages.limit + 5; i++) {
      const again = await post('resend-first');
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ seq: first.seq, duplicate: true });
    }
    // So the rest of the per-conversation limit is still there for new messages.
    const limit = TIER_LIMITS.new.conversationMessages.limit;
    for (let i = 1; i < limit; i++) expect((await post(`new-message-${i}`)).status).toBe(201);
    const over = await post('one-too-many');
    expect(over.status).toBe(429);
    // Over the limit now, yet a resend of a stored message still gets its ack.
    const late = await post('resend-first');
    expect(late.status).toBe(200);
    expect(await late.json()).toMatchObject({ seq: first.seq, duplicate: true });
    expect(await storedBy(id, fresh.user.id)).toBe(limit);
  });
});
