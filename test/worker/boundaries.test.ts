/**
 * Issue 15, "Trust at the boundaries": one regression test (or table of tests) per
 * defect, pinning what the fixed service does through its public HTTP and WebSocket API.
 * Faults are injected only where a defect needs one (a UserDO method that throws or
 * waits: see `patchUserDO` in ./boundary-helpers.ts). Every wait is bounded.
 *
 * 1. A revoked device's every wire ends at once with `device_revoked` / 4004.
 * 2. A member removed during a chat-window upgrade gets no live window.
 * 3. Moderated or deleted content never reaches a device queue.
 * 4. Presence is visible only to people who share a conversation with the user.
 * 5. A block holds in every conversation (groups, reactions, edits, typing).
 * 6. A send is always answered, even when the allowance lease throws.
 * 7. Reactions, edits, deletes, member changes and reports are rate-limited (TIER_LIMITS).
 *
 * About 580 lines: one section per defect, kept together as the regression list;
 * what the sections share is in ./boundary-helpers.ts.
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { evictDurableObject, runDurableObjectAlarm } from 'cloudflare:test';
import { call, createDirect, createGroup, json, quietPeriod, registerUser, ticket, type TestSocket } from './helpers.js';
import { openInbox, silentUsers } from './inbox-helpers.js';
import { TIER_LIMITS } from '../../src/ratelimit/rules.js';
import type { ConversationEvent, Session } from '../../src/protocol/index.js';
import {
  Gate,
  TIMED_OUT,
  block,
  conversationEvents,
  deviceSseWire,
  eventually,
  feedPollWire,
  feedSseWire,
  historyOf,
  inboxPollWire,
  inboxWire,
  loginDevice,
  mentions,
  patchUserDO,
  rawUpgrade,
  revoke,
  sendText,
  text,
  windowWire,
  within,
  type Ending,
  type Revocation,
  type Wire,
} from './boundary-helpers.js';

/** "Within 3 s of the change" everywhere below. */
const PROMPTLY_MS = 3_000;

const secret = (label: string) => `${label}-${crypto.randomUUID()}`;

// ── 1. Revoked device, every wire ─────────────────────────────────────────────

interface RevocationRow {
  wire: string;
  open: (device: Session, conversationId: string, lastSeq: number) => Promise<Wire>;
  ends: Ending;
}

const REVOCATION_ROWS: RevocationRow[] = [
  { wire: 'conversation feed SSE', open: (d, id) => feedSseWire(d, id), ends: { code: 'device_revoked' } },
  { wire: 'conversation feed poll (held)', open: (d, id, lastSeq) => feedPollWire(d, id, lastSeq), ends: { status: 401, code: 'device_revoked' } },
  { wire: 'device event SSE', open: (d) => deviceSseWire(d), ends: { code: 'device_revoked' } },
  { wire: 'device event poll (held)', open: (d, id, lastSeq) => inboxPollWire(d, { conversationId: id, seq: lastSeq }), ends: { status: 401, code: 'device_revoked' } },
  { wire: 'chat window socket', open: (d, id) => windowWire(d, id), ends: { close: 4004 } },
  { wire: 'inbox socket', open: (d) => inboxWire(d), ends: { close: 4004 } },
];

describe('1. a revoked device loses every wire at once', () => {
  for (const how of ['DELETE /v1/devices/:deviceId', 'POST /v1/auth/logout'] as Revocation[]) {
    for (const row of REVOCATION_ROWS) {
      it(`${row.wire}, revoked by ${how}: ends within 3 s with ${JSON.stringify(row.ends)}, nothing sent afterwards arrives, the token is refused`, async () => {
        const [user, other] = [await registerUser('revoked'), await registerUser('other')];
        const phone = await loginDevice(user, 'phone');
        const id = await createGroup(other, [user]);
        const before = secret('before');
        const lastSeq = await sendText(other, id, before);
        const wire = await row.open(user, id, lastSeq);
        try {
          await revoke(user, how, phone);
          const revokedAt = Date.now();
          const after = secret('after-revocation');
          await sendText(other, id, after);
          const ending = await wire.ended(revokedAt + PROMPTLY_MS - Date.now());
          expect.soft(ending, `${row.wire}: how it ended`).toMatchObject({ ...row.ends });
          expect.soft(ending.timedOut, `${row.wire}: still open ${PROMPTLY_MS} ms after the revocation`).toBeUndefined();
          expect.soft(mentions(wire.received(), after), `${row.wire}: carried a message sent after the revocation`).toBe(false);
          const me = await call('/v1/users/me', { token: user.accessToken });
          expect.soft([me.status, (await me.json<any>()).code]).toEqual([401, 'device_revoked']);
        } finally {
          wire.close();
        }
      });
    }
  }
});

// ── 2. Member removed during a chat-window upgrade ────────────────────────────

/**
 * After the removal answered: the socket the upgrade produced (if any) is closed with
 * 4003 (or was refused with `conversation_not_found`) within 3 s, and carries no event
 * past the removal; checked with a message the owner sends after it.
 */
async function expectNoLiveWindow(owner: Session, id: string, upgrade: Promise<{ status: number; socket: TestSocket | null }>, removedAt: number): Promise<void> {
  const settled = await within(upgrade, PROMPTLY_MS);
  if (settled === TIMED_OUT) throw new Error('the upgrade did not answer');
  const history = await historyOf(owner, id);
  const removal = history.findLast((e) => e.type === 'member_removed')!;
  const after = secret('after-removal');
  await sendText(owner, id, after);
  const { socket } = settled;
  if (!socket) {
    expect(settled.status, 'a refused upgrade is a 101 carrying an error frame and a 4003').toBe(101);
    return;
  }
  const closed = await eventually(() => socket.closed !== null, removedAt + PROMPTLY_MS - Date.now());
  try {
    const late = socket.events().filter((e) => e.seq > removal.seq);
    expect.soft(late.map((e) => e.seq), 'events past the removal reached the removed member').toEqual([]);
    expect.soft(mentions(socket.frames, after)).toBe(false);
    expect.soft(closed ? socket.closed!.code : 'still open', 'the socket must be closed with 4003').toBe(4003);
    const refusal = socket.frames.find((f) => f.type === 'error');
    if (refusal && refusal.type === 'error') expect.soft(refusal.code).toBe('conversation_not_found');
  } finally {
    socket.close();
  }
}

describe('2. a member removed during a chat-window upgrade gets no live window', () => {
  it('the removal lands while the upgrade is between its membership check and the accept (held there deterministically)', async () => {
    const [owner, member] = [await registerUser('owner'), await registerUser('member')];
    const id = await createGroup(owner, [member, await registerUser('third')]);
    await sendText(owner, id, 'hello');
    // Today's accept path awaits the member's block list between the membership check
    // and acceptWebSocket: hold it there until the removal has answered. If a fixed accept
    // path no longer asks, the gate is simply never entered and the race below decides.
    const gate = new Gate();
    const restore = patchUserDO(member.user.id, 'blockedIds', async (original, self, args) => {
      await gate.pass();
      return original.apply(self, args);
    });
    try {
      const upgrade = rawUpgrade(`/v1/conversations/${id}/ws?ticket=${await ticket(member)}`);
      let upgradeDone = false;
      const markDone = () => {
        upgradeDone = true;
      };
      upgrade.then(markDone, markDone);
      await eventually(() => gate.entered || upgradeDone, PROMPTLY_MS);
      await json(`/v1/conversations/${id}/members/${member.user.id}`, { token: owner.accessToken, method: 'DELETE' }, 204);
      const removedAt = Date.now();
      gate.open();
      await expectNoLiveWindow(owner, id, upgrade, removedAt);
    } finally {
      gate.open();
      restore();
    }
  });

  it('5 raced rounds (upgrade started, removal sent without awaiting it), fresh group each: no live window in any', async () => {
    const owner = await registerUser('owner');
    for (let round = 0; round < 5; round++) {
      const member = await registerUser('member');
      const id = await createGroup(owner, [member, await registerUser('third')]);
      const path = `/v1/conversations/${id}/ws?ticket=${await ticket(member)}`;
      const upgrade = rawUpgrade(path);
      await json(`/v1/conversations/${id}/members/${member.user.id}`, { token: owner.accessToken, method: 'DELETE' }, 204);
      await expectNoLiveWindow(owner, id, upgrade, Date.now());
    }
  });
});

// ── 3. Moderated or deleted content never reaches a device queue ──────────────

/** C's device events of one conversation, read without acknowledging. */
async function queueOf(session: Session, conversationId: string): Promise<ConversationEvent[]> {
  const page = await json('/v1/inbox/poll?timeoutMs=0', { token: session.accessToken }, 200);
  return conversationEvents(page.events, conversationId);
}

describe('3. content removed by moderation or deletion never reaches a device queue', () => {
  for (const variant of ['moderated by the owner', 'edited, then deleted for everyone by its author'] as const) {
    it(`${variant}: the message and its removal in one fan-out batch to an offline member`, async () => {
      const [owner, author, offline] = [await registerUser('owner'), await registerUser('author'), await registerUser('offline')];
      const id = await createGroup(owner, [author, offline]);
      // C's device is known to its UserDO (queues are kept for known devices), then C holds no wire.
      await json('/v1/inbox/poll?timeoutMs=0', { token: offline.accessToken }, 200);
      // C's UserDO refuses updates: the conversation's fan-out to C fails and C lags behind.
      let refused = 0;
      const restore = patchUserDO(offline.user.id, 'apply', async () => {
        refused++;
        throw new Error('injected: apply refused');
      });
      const conversation = env.CONVERSATIONS.getByName(id);
      try {
        const original = secret('original');
        const edited = secret('edited');
        const seq = await sendText(author, id, original);
        expect(await eventually(() => refused > 0, 10_000), 'the fan-out to C was attempted and failed').toBe(true);
        let deletion: number;
        if (variant === 'moderated by the owner') {
          deletion = (await json(`/v1/conversations/${id}/messages/${seq}?scope=moderate`, { token: owner.accessToken, method: 'DELETE' }, 200)).seq;
        } else {
          await json(`/v1/conversations/${id}/messages/${seq}`, { token: author.accessToken, method: 'PATCH', body: { content: text(edited) } }, 200);
          deletion = (await json(`/v1/conversations/${id}/messages/${seq}?scope=everyone`, { token: author.accessToken, method: 'DELETE' }, 200)).seq;
        }
        restore();
        await evictDurableObject(env.USERS.getByName(offline.user.id));
        // The catch-up now carries the message and its removal in one batch.
        let queue: ConversationEvent[] = [];
        const caughtUp = await eventually(async () => {
          await runDurableObjectAlarm(conversation);
          queue = await queueOf(offline, id);
          return queue.some((e) => e.seq === deletion);
        }, 20_000);
        expect(caughtUp, `C's queue never got the deletion; has ${JSON.stringify(queue)}`).toBe(true);
        expect.soft(mentions(queue, original), 'the original text is in C\'s queue').toBe(false);
        expect.soft(mentions(queue, edited), 'the edited text is in C\'s queue').toBe(false);
        const message = queue.find((e) => e.seq === seq);
        expect.soft(message?.type).toBe('message');
        if (message?.type === 'message') {
          expect.soft(message.content, 'the message in the queue still has content').toBeUndefined();
          expect.soft(message.deleted, 'the message in the queue is not a tombstone').toBeDefined();
        }
        expect.soft(queue.find((e) => e.seq === deletion)).toMatchObject({ type: 'message_deleted', targetSeq: seq });
      } finally {
        restore();
      }
    });
  }
});

// ── 4. Presence is private ────────────────────────────────────────────────────

const presenceOf = async (asker: Session, userId: string) =>
  (await json('/v1/presence/query', { token: asker.accessToken, body: { userIds: [userId] } }, 200)).presence[0];

describe('4. presence is visible only to people who share a conversation with the user', () => {
  it('a stranger sees an online user, and later their last seen, exactly as an unknown user', async () => {
    const [p, stranger, member] = [await registerUser('p'), await registerUser('stranger'), await registerUser('member')];
    await createGroup(p, [member]);
    const unknown = `u_nobody_${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`;
    const inbox = await openInbox(p);
    expect(await presenceOf(member, p.user.id), 'control: a co-member sees P online').toMatchObject({ online: true });
    expect.soft(await presenceOf(stranger, p.user.id), 'P online, asked by a stranger').toEqual({ userId: p.user.id, online: false, lastSeenAt: null });
    expect.soft(await presenceOf(stranger, unknown)).toEqual({ userId: unknown, online: false, lastSeenAt: null });
    inbox.close();
    expect(await eventually(async () => (await presenceOf(member, p.user.id)).lastSeenAt !== null, 10_000), 'control: P offline with a last seen').toBe(true);
    expect.soft(await presenceOf(stranger, p.user.id), 'P offline, asked by a stranger').toEqual({ userId: p.user.id, online: false, lastSeenAt: null });
  });

  it('a co-member sees it; a user P blocked does not, even in a shared group; hidden last seen is null for co-members', async () => {
    const [p, member, blocked] = [await registerUser('p'), await registerUser('member'), await registerUser('blocked')];
    await createGroup(p, [member, blocked]);
    await block(p, blocked);
    const inbox = await openInbox(p);
    expect(await presenceOf(member, p.user.id)).toEqual({ userId: p.user.id, online: true, lastSeenAt: null });
    expect(await presenceOf(blocked, p.user.id)).toEqual({ userId: p.user.id, online: false, lastSeenAt: null });
    inbox.close();
    expect(await eventually(async () => (await presenceOf(member, p.user.id)).lastSeenAt !== null, 10_000)).toBe(true);
    expect(await presenceOf(blocked, p.user.id)).toEqual({ userId: p.user.id, online: false, lastSeenAt: null });
    await json('/v1/presence/settings', { token: p.accessToken, method: 'PUT', body: { hideLastSeen: true } }, 200);
    expect(await presenceOf(member, p.user.id)).toEqual({ userId: p.user.id, online: false, lastSeenAt: null });
  });
});

// ── 5. Blocks hold in every conversation ──────────────────────────────────────

const conversationIds = async (s: Session): Promise<string[]> =>
  ((await json('/v1/conversations', { token: s.accessToken }, 200)).conversations as { id: string }[]).map((c) => c.id).sort();

async function expectForbidden(res: Response, what: string): Promise<void> {
  const body = await res.text();
  expect.soft([res.status, (JSON.parse(body) as { code?: string }).code], `${what}: ${body.slice(0, 200)}`).toEqual([403, 'forbidden']);
}

describe('5. after P blocks Q, the block holds in every conversation', () => {
  it('(a) Q cannot create a group with P in it; nothing is created', async () => {
    const [p, q, r] = [await registerUser('p'), await registerUser('q'), await registerUser('r')];
    await block(p, q);
    const before = await conversationIds(q);
    await expectForbidden(await call('/v1/conversations', { token: q.accessToken, body: { kind: 'group', title: 'only us', memberIds: [p.user.id] } }), 'a group of Q and P');
    await expectForbidden(await call('/v1/conversations', { token: q.accessToken, body: { kind: 'group', title: 'us three', memberIds: [r.user.id, p.user.id] } }), 'a group of Q, R and P');
    await quietPeriod(200); // a conversation made anyway would be listed by now
    expect(await conversationIds(q)).toEqual(before);
    expect(await conversationIds(p)).toEqual([]);
  });

  it('(b) Q cannot add P to a group Q owns; membership unchanged', async () => {
    const [p, q, r] = [await registerUser('p'), await registerUser('q'), await registerUser('r')];
    const id = await createGroup(q, [r]);
    await block(p, q);
    await expectForbidden(await call(`/v1/conversations/${id}/members`, { token: q.accessToken, body: { userId: p.user.id } }), 'Q adds P');
    const members = (await json(`/v1/conversations/${id}/members`, { token: q.accessToken }, 200)).members as { userId: string }[];
    expect(members.map((m) => m.userId).sort()).toEqual([q.user.id, r.user.id].sort());
  });

  it('(c) in their direct conversation Q can neither react nor edit', async () => {
    const [p, q] = [await registerUser('p'), await registerUser('q')];
    const id = await createDirect(q, p);
    const fromP = await sendText(p, id, 'from p');
    const fromQ = await sendText(q, id, 'from q');
    await block(p, q);
    const before = await historyOf(p, id);
    await expectForbidden(await call(`/v1/conversations/${id}/messages/${fromP}/reactions`, { token: q.accessToken, body: { emoji: '👍' } }), 'Q reacts');
    await expectForbidden(
      await call(`/v1/conversations/${id}/messages/${fromQ}`, { token: q.accessToken, method: 'PATCH', body: { content: text('edited after the block') } }),
      'Q edits',
    );
    expect(await historyOf(p, id)).toEqual(before);
  });

  it('(d) in a group shared before the block: P gets Q\'s later messages hidden, reactions withheld, no typing; R gets them whole', async () => {
    const [p, q, r] = [await registerUser('p'), await registerUser('q'), await registerUser('r')];
    const id = await createGroup(r, [p, q]);
    const target = await sendText(r, id, 'react to this');
    const [pWindow, rWindow, qWindow] = [await windowWire(p, id), await windowWire(r, id), await windowWire(q, id)];
    const pInbox = await openInbox(p);
    try {
      await block(p, q);
      const hiddenText = secret('from-q-after-block');
      const cmid = crypto.randomUUID();
      qWindow.socket.send({ type: 'typing', state: 'start' });
      qWindow.socket.send({ type: 'send', cmid, content: text(hiddenText) });
      const { seq } = await qWindow.socket.next('ack', (f) => f.cmid === cmid, 5_000);
      qWindow.socket.send({ type: 'react', rid: 'react-1', targetSeq: target, emoji: '🎉', op: 'add' });
      const reaction = (await qWindow.socket.next('done', (f) => f.rid === 'react-1', 5_000)).seq!;
      // R (not blocking anyone) gets everything: the control.
      await rWindow.socket.until((frames) => frames.some((f) => f.type === 'typing' && f.userId === q.user.id), 'Q typing at R', 5_000);
      await rWindow.socket.until(() => rWindow.socket.events().some((e) => e.seq === reaction), 'the reaction at R', 5_000);
      expect(rWindow.socket.events().find((e) => e.seq === seq)).toMatchObject({ type: 'message', content: { text: hiddenText } });
      // P's window, after both seqs arrived (the typing frame was sent before them, on the same socket).
      await pWindow.socket.until(() => pWindow.socket.events().some((e) => e.seq === reaction), 'the reaction seq at P', 5_000);
      await pInbox.until(() => pInbox.seqs(id).includes(reaction), 'the reaction seq in P\'s device queue', 10_000);
      const history = await historyOf(p, id);
      const views: [string, ConversationEvent[]][] = [
        ["P's chat window", pWindow.socket.events()],
        ["P's history page", history],
        ["P's device queue", conversationEvents(pInbox.events(), id)],
      ];
      for (const [where, events] of views) {
        const message = events.find((e) => e.seq === seq) as Record<string, unknown> | undefined;
        expect.soft(message, `${where}: Q's message`).toMatchObject({ type: 'message', hidden: true });
        expect.soft(message?.content, `${where}: Q's message content`).toBeUndefined();
        const react = events.find((e) => e.seq === reaction) as Record<string, unknown> | undefined;
        expect.soft(react?.type, `${where}: Q's reaction`).toBe('withheld');
        expect.soft(react?.emoji, `${where}: Q's reaction emoji`).toBeUndefined();
        expect.soft(mentions(events, hiddenText), `${where}: carries Q's text`).toBe(false);
      }
      const reacted = history.find((e) => e.seq === target) as { reactions?: { emoji: string; userIds: string[] }[] } | undefined;
      expect.soft((reacted?.reactions ?? []).flatMap((x) => x.userIds), "P's history: reactions of R's message").not.toContain(q.user.id);
      expect.soft(pWindow.socket.frames.filter((f) => f.type === 'typing' && f.userId === q.user.id), "Q's typing at P").toEqual([]);
    } finally {
      for (const w of [pWindow, rWindow, qWindow]) w.close();
      pInbox.close();
    }
  });
});

// ── 6. A send never hangs ─────────────────────────────────────────────────────

describe('6. a send is answered even when the allowance lease throws', () => {
  it('over the chat window: an `internal` error frame with the cmid within 3 s, the socket stays usable, the resend lands once', async () => {
    const [sender, other] = [await registerUser('sender'), await registerUser('other')];
    const id = await createGroup(sender, [other]);
    const window = await windowWire(sender, id);
    const restore = patchUserDO(sender.user.id, 'leaseSends', async () => {
      throw new Error('injected: lease refused');
    });
    const cmid = crypto.randomUUID();
    try {
      window.socket.send({ type: 'send', cmid, content: text('a send that needs a lease') });
      const answer = await within(window.socket.next('error', (f) => f.cmid === cmid, PROMPTLY_MS + 500), PROMPTLY_MS);
      expect.soft(answer === TIMED_OUT ? 'no answer within 3 s' : answer).toMatchObject({ type: 'error', code: 'internal', cmid });
      window.socket.send({ type: 'history', rid: 'after-fault' });
      await window.socket.next('history', (f) => f.rid === 'after-fault', 5_000);
      expect(window.socket.closed).toBeNull();
      restore();
      window.socket.send({ type: 'send', cmid, content: text('a send that needs a lease') });
      await window.socket.next('ack', (f) => f.cmid === cmid, 5_000);
      const stored = (await historyOf(sender, id)).filter((e) => e.type === 'message' && e.cmid === cmid);
      expect(stored).toHaveLength(1);
    } finally {
      restore();
      window.close();
    }
  });

  it('over HTTP: a 500 `internal` problem, not a hang; the retry with the same cmid lands once', async () => {
    const [sender, other] = [await registerUser('sender'), await registerUser('other')];
    const id = await createGroup(sender, [other]);
    const restore = patchUserDO(sender.user.id, 'leaseSends', async () => {
      throw new Error('injected: lease refused');
    });
    const cmid = crypto.randomUUID();
    const body = { cmid, content: text('an HTTP send that needs a lease') };
    try {
      const res = await within(call(`/v1/conversations/${id}/messages`, { token: sender.accessToken, body }), PROMPTLY_MS);
      if (res === TIMED_OUT) throw new Error('the send did not answer within 3 s');
      expect([res.status, (await res.json<any>()).code]).toEqual([500, 'internal']);
      restore();
      const retried = await call(`/v1/conversations/${id}/messages`, { token: sender.accessToken, body });
      expect(retried.status).toBe(201);
      expect((await historyOf(sender, id)).filter((e) => e.type === 'message' && e.cmid === cmid)).toHaveLength(1);
    } finally {
      restore();
    }
  });
});

// ── 7. Limits for every write ─────────────────────────────────────────────────

type Answer = { type: string; rid?: string; code?: string; retryAfterMs?: number };

/** Sends `frames` (each with a unique rid) without waiting, then waits for every answer. */
async function burst(socket: TestSocket, frames: Record<string, unknown>[]): Promise<Answer[]> {
  const rids = frames.map((_, i) => `b${i}-${crypto.randomUUID().slice(0, 8)}`);
  frames.forEach((frame, i) => socket.send({ ...frame, rid: rids[i] }));
  const want = new Set(rids);
  return socket.until(
    (all) => {
      const answers = (all as Answer[]).filter((f) => (f.type === 'done' || f.type === 'error') && f.rid !== undefined && want.has(f.rid));
      return answers.length === rids.length ? answers : undefined;
    },
    `${rids.length} answers`,
    30_000,
  );
}

function tally(answers: Answer[]): { done: number; limited: Answer[]; other: Answer[] } {
  return {
    done: answers.filter((a) => a.type === 'done').length,
    limited: answers.filter((a) => a.type === 'error' && a.code === 'rate_limited'),
    other: answers.filter((a) => a.type === 'error' && a.code !== 'rate_limited'),
  };
}

describe('7. reactions, edits, deletes, member changes and reports are rate-limited', () => {
  it('a new-tier account toggling a reaction 150 times in one burst: at most TIER_LIMITS.new.reactions.limit land', async () => {
    const [reactor, other] = [await registerUser('reactor'), await registerUser('other')];
    const id = await createGroup(other, [reactor]);
    const target = await sendText(other, id, 'react to this');
    const window = await windowWire(reactor, id);
    try {
      const toggles = Array.from({ length: 150 }, (_, i) => ({ type: 'react', targetSeq: target, emoji: '👍', op: i % 2 === 0 ? 'add' : 'remove' }));
      const { done, limited, other: failed } = tally(await burst(window.socket, toggles));
      const logged = (await historyOf(other, id)).filter((e) => e.type === 'reaction').length;
      const rule = TIER_LIMITS.new.reactions;
      expect(rule, `TIER_LIMITS.new.reactions (today: ${done} of 150 toggles done, ${limited.length} rate_limited, ${logged} reaction events logged)`).toBeDefined();
      expect(rule.limit).toBeLessThan(150);
      expect(failed).toEqual([]);
      expect(done).toBeLessThanOrEqual(rule.limit);
      expect(limited.length).toBe(150 - done);
      for (const refusal of limited) expect(refusal.retryAfterMs).toBeGreaterThan(0);
      expect(logged).toBeLessThanOrEqual(rule.limit);
    } finally {
      window.close();
    }
  });

  it('a new-tier author editing one message past TIER_LIMITS.new.edits.limit is refused with rate_limited', async () => {
    const [author, other] = [await registerUser('author'), await registerUser('other')];
    const id = await createGroup(other, [author]);
    const seq = await sendText(author, id, 'version 0');
    const window = await windowWire(author, id);
    const rule = TIER_LIMITS.new.edits as { limit: number; windowMs: number } | undefined;
    const attempts = rule ? rule.limit + 10 : 60;
    try {
      const edits = Array.from({ length: attempts }, (_, i) => ({ type: 'edit', targetSeq: seq, content: text(`version ${i + 1}`) }));
      const { done, limited, other: failed } = tally(await burst(window.socket, edits));
      const logged = (await historyOf(other, id)).filter((e) => e.type === 'message_edited').length;
      expect(rule, `TIER_LIMITS.new.edits (today: ${done} of ${attempts} edits done, ${limited.length} rate_limited, ${logged} logged)`).toBeDefined();
      expect(failed).toEqual([]);
      expect(done).toBeLessThanOrEqual(rule!.limit);
      expect(limited.length).toBe(attempts - done);
      for (const refusal of limited) expect(refusal.retryAfterMs).toBeGreaterThan(0);
      expect(logged).toBeLessThanOrEqual(rule!.limit);
    } finally {
      window.close();
    }
  });

  it('a new-tier author deleting past TIER_LIMITS.new.deletes.limit in one burst: the first limit apply, the rest are refused with rate_limited and change nothing', async () => {
    const [author, other] = [await registerUser('author'), await registerUser('other')];
    const id = await createGroup(other, [author]);
    const rule = TIER_LIMITS.new.deletes;
    const attempts = rule.limit + 5;
    const words = Array.from({ length: attempts }, (_, i) => secret(`delete-me-${i}`));
    const seqs: number[] = [];
    for (const word of words) seqs.push(await sendText(author, id, word));
    const othersSeq = await sendText(other, id, secret('hide-me'));
    const window = await windowWire(author, id);
    try {
      const answers = await burst(window.socket, seqs.map((targetSeq) => ({ type: 'delete', targetSeq, scope: 'everyone' })));
      // Frames on one socket are answered in order, and the window is exact: the first `limit` pass.
      const byTarget = seqs.map((seq, i) => ({ seq, answer: answers.find((a) => a.rid?.startsWith(`b${i}-`))! }));
      const { done, limited, other: failed } = tally(answers);
      expect(failed).toEqual([]);
      expect(done).toBe(rule.limit);
      expect(byTarget.slice(0, rule.limit).every((t) => t.answer.type === 'done')).toBe(true);
      expect(limited.length).toBe(attempts - rule.limit);
      for (const refusal of limited) expect(refusal.retryAfterMs).toBeGreaterThan(0);
      // `me` shares the count (PROTOCOL.md: deletes of every scope): refused, the message stays visible to the author.
      const [hide] = await burst(window.socket, [{ type: 'delete', targetSeq: othersSeq, scope: 'me' }]);
      expect(hide).toMatchObject({ type: 'error', code: 'rate_limited' });

      const log = await historyOf(other, id);
      const deletions = log.filter((e): e is Extract<ConversationEvent, { type: 'message_deleted' }> => e.type === 'message_deleted');
      expect(deletions.map((e) => e.targetSeq).sort((a, b) => a - b)).toEqual(seqs.slice(0, rule.limit));
      for (const [i, seq] of seqs.entries()) {
        const message = log.find((e) => e.seq === seq);
        if (i < rule.limit) expect(mentions([message], words[i]!), `seq ${seq}, deleted: its text is gone`).toBe(false);
        else expect(mentions([message], words[i]!), `seq ${seq}, refused: its text is still there`).toBe(true);
      }
      const own = await historyOf(author, id);
      expect(own.find((e) => e.seq === othersSeq), 'the refused `me` delete hid nothing').toMatchObject({ type: 'message', content: { type: 'text' } });
    } finally {
      window.close();
    }
  });

  it('a new-tier group owner adding and removing members past TIER_LIMITS.new.memberChanges.limit gets 429 rate_limited', async () => {
    const [owner, other] = [await registerUser('owner'), await registerUser('other')];
    const id = await createGroup(owner, [other]);
    const [extra] = await silentUsers(1);
    const rule = TIER_LIMITS.new.memberChanges as { limit: number; windowMs: number } | undefined;
    const attempts = rule ? rule.limit + 5 : 40;
    const statuses: { status: number; code: string | null; retryAfter: string | null }[] = [];
    let member = false;
    for (let i = 0; i < attempts; i++) {
      const res = member
        ? await call(`/v1/conversations/${id}/members/${extra}`, { token: owner.accessToken, method: 'DELETE' })
        : await call(`/v1/conversations/${id}/members`, { token: owner.accessToken, body: { userId: extra } });
      const body = await res.text();
      statuses.push({ status: res.status, code: body ? ((JSON.parse(body) as { code?: string }).code ?? null) : null, retryAfter: res.headers.get('retry-after') });
      if (res.ok) member = !member;
    }
    const accepted = statuses.filter((s) => s.status < 300).length;
    const limited = statuses.filter((s) => s.status === 429);
    expect(rule, `TIER_LIMITS.new.memberChanges (today: ${accepted} of ${attempts} member changes accepted, ${limited.length} refused)`).toBeDefined();
    expect(accepted).toBeLessThanOrEqual(rule!.limit);
    expect(limited.length).toBe(attempts - accepted);
    for (const refusal of limited) {
      expect(refusal.code).toBe('rate_limited');
      expect(Number(refusal.retryAfter)).toBeGreaterThan(0);
    }
    const members = (await json(`/v1/conversations/${id}/members`, { token: owner.accessToken }, 200)).members as { userId: string }[];
    expect(members.some((m) => m.userId === extra)).toBe(member);
  });

  it('a new-tier reporter past TIER_LIMITS.new.reports (repeats count too) gets 429 rate_limited, and the refused report is not stored', async () => {
    const reporter = await registerUser('reporter');
    const rule = TIER_LIMITS.new.reports;
    const targets: Session[] = [];
    for (let i = 0; i < rule.limit; i++) targets.push(await registerUser(`target${i}`));
    const file = (target: Session) => call('/v1/reports', { token: reporter.accessToken, body: { kind: 'user', userId: target.user.id, reason: 'spam' } });
    // A repeat answers 200 duplicate, and still takes one of the tier's reports.
    const answers = [await file(targets[0]!), await file(targets[0]!)];
    for (const target of targets.slice(1, rule.limit - 1)) answers.push(await file(target));
    expect(answers.map((r) => r.status)).toEqual([201, 200, ...Array<number>(rule.limit - 2).fill(201)]);
    const stored = async () =>
      (await env.DB.prepare('SELECT target_user_id FROM reports WHERE reporter_id = ?').bind(reporter.user.id).all<{ target_user_id: string }>()).results.map((r) => r.target_user_id);
    const before = await stored();
    expect(before).toHaveLength(rule.limit - 1);

    const last = targets[rule.limit - 1]!;
    for (const refused of [await file(last), await file(targets[0]!)]) {
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await refused.json<{ code: string }>()).code).toBe('rate_limited');
    }
    expect(await stored()).toEqual(before);
  });
});
