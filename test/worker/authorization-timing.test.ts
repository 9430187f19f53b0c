/**
 * The authorization table's time dimension (issue 15): a change made *while* a wire is
 * open or a request is in flight. Rows are wires, columns are changes; each cell opens the
 * wire for `reader`, makes the change, then has the blocked/removed/revoked side keep
 * talking (the owner sends, a third member sends) and asks two questions: what did the
 * wire carry afterwards, and how did it end.
 *
 * - device revoked (DELETE /v1/devices/:id from the reader's other device): nothing
 *   afterwards; sockets close 4004, SSE streams end with an `error` frame
 *   `device_revoked`, requests and held polls answer 401 `device_revoked`.
 * - member removed (the owner removes the reader): nothing of the conversation
 *   afterwards; chat windows close 4003, feeds end with `conversation_not_found` (SSE
 *   error frame, or 404), history 404 `conversation_not_found`, media 404
 *   `media_not_found` (PROTOCOL.md: media answers everyone who may not see it with
 *   media_not_found, deliberately the same as "no such media"). The device-wide wires
 *   (inbox socket, device SSE) carry other conversations, so they stay open and only stop
 *   carrying this one.
 * - user blocked (the reader blocks the owner): the wires stay open; the owner's later
 *   messages arrive hidden (`hidden: true`, no content) as in boundaries.test.ts 5d. The
 *   conversation feed may instead leave such a message out (PROTOCOL.md says a message
 *   hidden for you is absent from the feed), so its cells accept absent or hidden.
 *
 * The block rule, as decided for the two wires that carry no events:
 * - push: a message from a user the recipient blocked is never pushed (it reaches their
 *   queues hidden, and src/user/notifications.ts makes no notification of a hidden
 *   message); the third member's messages still are.
 * - media: a reader who blocked the uploader is refused the uploader's media in every
 *   conversation they share, with 404 `media_not_found` (bytes, thumbnail and info), for
 *   items shared before the block as well as after, since history hides that user's
 *   earlier messages too; another member's media is served, and an unblock serves them
 *   again (ConversationDO `mediaAccess`: the register's `canRead`, then `hearsFrom`).
 *
 * In flight: history and media requests are made again after the change above; the
 * "in flight" tests at the end instead hold one request inside the conversation object
 * (at its only await on those paths: the device's standing, asked of the UserDO on first
 * use) while the device is revoked, then let it go on with the answer from before: it is
 * refused. Deterministic (a gate on the UserDO's answer, ./boundary-helpers.ts). What
 * this cannot reach: a download whose check passed before the revocation streams its
 * bytes to the end, and a history page already computed is delivered (each was
 * authorised when it was read).
 *
 * Cells left out, on purpose:
 * - device event poll (held) x member removed: the held poll answers at once with the
 *   removal itself (a `membership` event, role null), so there is no "afterwards" on that
 *   request; the next poll is a new request, and the device-wide wires' rows show the
 *   conversation carried no further.
 *
 * About 440 lines: the table, then push, media and the in-flight cases, which share its
 * world and helpers.
 */
import { describe, expect, inject, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { call, createDirect, createGroup, json, listedUpTo, quietPeriod, registerUser } from './helpers.js';
import { standingCache } from '../../src/auth/standing.js';
import { download, sendMedia, uploadWhole } from './media-helpers.js';
import { LANDSCAPE_PNG } from '../fixtures/images.js';
import type { ConversationEvent, Session } from '../../src/protocol/index.js';
import {
  Gate,
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
  revoke,
  sendText,
  windowWire,
  type Carried,
  type Ending,
  type Wire,
} from './boundary-helpers.js';

const PROMPTLY_MS = 3_000;
const secret = (label: string) => `${label}-${crypto.randomUUID()}`;

type Change = 'device revoked' | 'member removed' | 'user blocked';

interface World {
  id: string;
  /** Owns the group; the one the reader blocks. */
  owner: Session;
  /** Holds the wire. */
  reader: Session;
  /** The reader's other device (revokes the reader's device). */
  readerPhone: Session;
  third: Session;
  lastSeq: number;
  mediaId: string;
}

async function world(): Promise<World> {
  const [owner, reader, third] = [await registerUser('owner'), await registerUser('reader'), await registerUser('third')];
  const readerPhone = await loginDevice(reader, 'phone');
  const id = await createGroup(owner, [reader, third]);
  await sendText(owner, id, 'before the change');
  const media = await uploadWhole(owner, id, LANDSCAPE_PNG, 'image/png');
  const shared = await json(`/v1/conversations/${id}/messages`, { token: owner.accessToken, body: { cmid: crypto.randomUUID(), content: { type: 'media', mediaId: media.mediaId } } }, 201);
  return { id, owner, reader, readerPhone, third, lastSeq: shared.seq, mediaId: media.mediaId };
}

async function makeChange(w: World, change: Change): Promise<void> {
  if (change === 'device revoked') await revoke(w.reader, 'DELETE /v1/devices/:deviceId', w.readerPhone);
  else if (change === 'member removed') await json(`/v1/conversations/${w.id}/members/${w.reader.user.id}`, { token: w.owner.accessToken, method: 'DELETE' }, 204);
  else await block(w.reader, w.owner);
}

/**
 * A short request as a wire: opening it makes one request that must succeed (so a cached
 * answer or standing is warm), ended() makes the same request again after the change and
 * reports how it was answered; received() is what that second answer carried.
 */
async function requestWire(name: string, request: () => Promise<Response>, carried: (body: any) => Carried[]): Promise<Wire> {
  const first = await request();
  expect(first.status, `${name} before the change`).toBe(200);
  await first.arrayBuffer();
  let answer: { status: number; body: any } | null = null;
  return {
    name,
    received: () => (answer && answer.status === 200 ? carried(answer.body) : []),
    frames: () => (answer ? [answer.body] : []),
    async ended() {
      const res = await request();
      const text = await res.text();
      let body: any = text;
      try {
        body = JSON.parse(text);
      } catch {
        // bytes
      }
      answer = { status: res.status, body };
      return { status: res.status, code: typeof body === 'object' && body !== null ? (body.code ?? null) : null };
    },
    close: () => undefined,
  };
}

interface Row {
  wire: string;
  open: (w: World) => Promise<Wire>;
  /** Live wires (sockets, streams, held polls) can be watched; requests are asked again. */
  live: boolean;
  /** Whether this wire carries every conversation of the device (stays open on removal). */
  deviceWide?: boolean;
  /** A feed: may leave a hidden message out rather than mark it. */
  feed?: boolean;
  /** A held poll: answers once, with the first events that arrive (either member's message). */
  held?: boolean;
  /** A block refuses this wire outright, as a removal does (media of the blocked uploader). */
  blockRefuses?: boolean;
  ends: Partial<Record<Change, Ending>>;
}

const ROWS: Row[] = [
  { wire: 'chat window socket', live: true, open: (w) => windowWire(w.reader, w.id), ends: { 'device revoked': { close: 4004 }, 'member removed': { close: 4003 }, 'user blocked': {} } },
  { wire: 'inbox socket', live: true, deviceWide: true, open: (w) => inboxWire(w.reader), ends: { 'device revoked': { close: 4004 }, 'member removed': {}, 'user blocked': {} } },
  { wire: 'device SSE stream', live: true, deviceWide: true, open: (w) => deviceSseWire(w.reader), ends: { 'device revoked': { code: 'device_revoked' }, 'member removed': {}, 'user blocked': {} } },
  {
    wire: 'device event poll (held)',
    live: true,
    deviceWide: true,
    held: true,
    open: (w) => inboxPollWire(w.reader, { conversationId: w.id, seq: w.lastSeq }),
    // member removed: left out (see the header).
    ends: { 'device revoked': { status: 401, code: 'device_revoked' }, 'user blocked': { status: 200 } },
  },
  {
    wire: 'conversation feed SSE',
    live: true,
    feed: true,
    open: (w) => feedSseWire(w.reader, w.id),
    ends: { 'device revoked': { code: 'device_revoked' }, 'member removed': { code: 'conversation_not_found' }, 'user blocked': {} },
  },
  {
    wire: 'conversation feed poll (held)',
    live: true,
    feed: true,
    held: true,
    open: (w) => feedPollWire(w.reader, w.id, w.lastSeq),
    ends: { 'device revoked': { status: 401, code: 'device_revoked' }, 'member removed': { status: 404, code: 'conversation_not_found' }, 'user blocked': { status: 200 } },
  },
  {
    wire: 'history GET',
    live: false,
    open: (w) =>
      requestWire('history GET', () => call(`/v1/conversations/${w.id}/events?after=0`, { token: w.reader.accessToken }), (body) => body.events ?? []),
    ends: { 'device revoked': { status: 401, code: 'device_revoked' }, 'member removed': { status: 404, code: 'conversation_not_found' }, 'user blocked': { status: 200 } },
  },
  {
    wire: 'media download GET',
    live: false,
    blockRefuses: true,
    open: (w) => requestWire('media download GET', () => call(`/v1/media/${w.mediaId}`, { token: w.reader.accessToken }), () => []),
    ends: { 'device revoked': { status: 401, code: 'device_revoked' }, 'member removed': { status: 404, code: 'media_not_found' }, 'user blocked': { status: 404, code: 'media_not_found' } },
  },
];

/** The reader's view of one message: absent, hidden (no content), or shown. */
function viewOf(events: ConversationEvent[], seq: number): 'absent' | 'hidden' | 'shown' {
  const event = events.find((e) => e.seq === seq) as { content?: unknown; hidden?: boolean } | undefined;
  if (!event) return 'absent';
  return event.hidden === true && event.content === undefined ? 'hidden' : 'shown';
}

describe('authorization over time: a change while the wire is open', () => {
  for (const row of ROWS) {
    for (const change of ['device revoked', 'member removed', 'user blocked'] as Change[]) {
      const expected = row.ends[change];
      if (!expected) continue;
      it(`${row.wire} x ${change}`, async () => {
        const w = await world();
        const wire = await row.open(w);
        try {
          await makeChange(w, change);
          const changedAt = Date.now();
          // Both other members keep talking: the blocked owner first, then the third member (the control).
          const fromOwner = secret('owner-after-change');
          const ownerSeq = await sendText(w.owner, w.id, fromOwner);
          const fromThird = secret('third-after-change');
          const thirdSeq = await sendText(w.third, w.id, fromThird);

          if (change === 'user blocked' && !row.blockRefuses) {
            // The wire stays open; the third member's message (sent after the owner's) is the
            // sign the owner's has had its chance to arrive. A held poll answers with the
            // first event it may show, which is either of the two.
            if (!row.live) expect(await wire.ended(PROMPTLY_MS)).toMatchObject(expected);
            const seen = () => conversationEvents(wire.received(), w.id);
            const arrived = await eventually(() => seen().some((e) => e.seq === thirdSeq || (row.held === true && e.seq === ownerSeq)), 10_000);
            expect(arrived, `${row.wire}: the control arrived`).toBe(true);
            const events = seen();
            if (events.some((e) => e.seq === thirdSeq)) expect(viewOf(events, thirdSeq), 'the control is shown whole').toBe('shown');
            expect.soft(mentions(wire.received(), fromOwner), `${row.wire}: carries the blocked user's later text`).toBe(false);
            const view = viewOf(events, ownerSeq);
            if (row.feed) expect.soft(['absent', 'hidden'], `${row.wire}: the blocked user's later message is ${view}`).toContain(view);
            else expect.soft(view, `${row.wire}: the blocked user's later message`).toBe('hidden');
            // Still open (sockets, streams), or answered normally (a held poll).
            if (row.live) expect(await wire.ended(200)).toMatchObject(Object.keys(expected).length > 0 ? expected : { timedOut: true });
            return;
          }

          if (change === 'member removed' && row.deviceWide) {
            // Stays open (other conversations), but carries nothing more of this one: a
            // message in another conversation, sent last, is the sign the rest had its chance.
            const direct = await createDirect(w.third, w.reader);
            const otherSeq = await sendText(w.third, direct, 'in another conversation');
            const arrived = await eventually(() => conversationEvents(wire.received(), direct).some((e) => e.seq === otherSeq), 10_000);
            expect(arrived, `${row.wire}: the control in another conversation arrived`).toBe(true);
            await quietPeriod(300); // anything of the conversation still to come would be here by now
            const removal = (await historyOf(w.owner, w.id)).findLast((e) => e.type === 'member_removed')!;
            const late = conversationEvents(wire.received(), w.id).filter((e) => e.seq > removal.seq);
            expect(late.map((e) => e.seq), `${row.wire}: events of the conversation after the removal`).toEqual([]);
            expect(mentions(wire.received(), fromOwner) || mentions(wire.received(), fromThird)).toBe(false);
            expect(await wire.ended(100)).toMatchObject({ timedOut: true });
            return;
          }

          const ending = await wire.ended(Math.max(0, changedAt + PROMPTLY_MS - Date.now()));
          expect.soft(ending, `${row.wire}: how it ended after "${change}"`).toMatchObject({ ...expected });
          expect.soft(ending.timedOut, `${row.wire}: still open ${PROMPTLY_MS} ms after "${change}"`).toBeUndefined();
          expect.soft(mentions(wire.received(), fromOwner) || mentions(wire.received(), fromThird), `${row.wire}: carried a message sent after "${change}"`).toBe(false);
          expect.soft(conversationEvents(wire.received(), w.id).filter((e) => e.seq >= ownerSeq).map((e) => e.seq)).toEqual([]);
        } finally {
          wire.close();
        }
      });
    }
  }
});

// ── Push ─────────────────────────────────────────────────────────────────────

const RECEIVER = inject('pushReceiverUrl');

const base64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/** Subscribes `session`'s device as a browser would; returns the receiver inbox its pushes land in. */
async function subscribe(session: Session): Promise<string> {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits'])) as CryptoKeyPair;
  const publicKey = new Uint8Array((await crypto.subtle.exportKey('raw', pair.publicKey)) as ArrayBuffer);
  const inbox = `ok-${crypto.randomUUID()}`;
  const body = { endpoint: `${RECEIVER}/push/${inbox}`, expirationTime: null, keys: { p256dh: base64url(publicKey), auth: base64url(crypto.getRandomValues(new Uint8Array(16))) } };
  await json('/v1/push/subscriptions', { token: session.accessToken, body }, 204);
  return inbox;
}

const pushesAt = async (inbox: string): Promise<number> => ((await (await fetch(`${RECEIVER}/inbox/${inbox}`)).json()) as unknown[]).length;

const subscriptionsOf = async (deviceId: string): Promise<number> =>
  (await env.DB.prepare('SELECT COUNT(*) AS n FROM push_subscriptions WHERE device_id = ?').bind(deviceId).first<{ n: number }>())!.n;

/** The reader's inbox (its UserDO, which decides pushes) has applied every event of the set-up. */
const fannedOut = (w: World): Promise<void> => listedUpTo(w.reader, w.id, w.lastSeq);

describe('authorization over time: push', () => {
  it('push x device revoked: its subscription is gone and nothing is pushed to it; the user\'s other device still gets pushes', async () => {
    const w = await world();
    await fannedOut(w); // the set-up's own messages reached the reader's inbox before anyone subscribes
    const [laptopInbox, phoneInbox] = [await subscribe(w.reader), await subscribe(w.readerPhone)];
    await makeChange(w, 'device revoked');
    expect(await subscriptionsOf(w.reader.deviceId)).toBe(0);
    await sendText(w.owner, w.id, secret('after-revocation'));
    expect(await eventually(async () => (await pushesAt(phoneInbox)) >= 1, 10_000), 'control: the other device got a push').toBe(true);
    await quietPeriod(1_500); // a push the queue still held would have landed by now (its batches wait 1 s)
    expect(await pushesAt(laptopInbox)).toBe(0);
  });

  it('push x member removed: nothing of the conversation is pushed any more; another conversation still is', async () => {
    const w = await world();
    await fannedOut(w); // the set-up's own messages reached the reader's inbox before anyone subscribes
    const inbox = await subscribe(w.reader);
    await makeChange(w, 'member removed');
    await sendText(w.owner, w.id, secret('after-removal'));
    const direct = await createDirect(w.third, w.reader);
    await sendText(w.third, direct, 'in another conversation');
    expect(await eventually(async () => (await pushesAt(inbox)) >= 1, 10_000), 'control: the other conversation pushed').toBe(true);
    await quietPeriod(1_500); // a push the queue still held would have landed by now (its batches wait 1 s)
    expect(await pushesAt(inbox), 'pushes: the other conversation only').toBe(1);
  });

  it("push x user blocked: the blocked user's later message is not pushed; another conversation still is", async () => {
    const w = await world();
    await fannedOut(w); // the set-up's own messages reached the reader's inbox before anyone subscribes
    const inbox = await subscribe(w.reader);
    await makeChange(w, 'user blocked');
    const blockedSeq = await sendText(w.owner, w.id, secret('after-block'));
    // The reader's UserDO, which decides pushes, has applied it (hidden) before the control is sent.
    await fannedOut({ ...w, lastSeq: blockedSeq });
    // The control is in another conversation, so a push for the blocked message could not be folded into its burst.
    const direct = await createDirect(w.third, w.reader);
    await sendText(w.third, direct, 'in another conversation');
    expect(await eventually(async () => (await pushesAt(inbox)) >= 1, 10_000), 'control: the other conversation pushed').toBe(true);
    await quietPeriod(1_500); // a push the queue still held would have landed by now (its batches wait 1 s)
    expect(await pushesAt(inbox), 'pushes: the other conversation only').toBe(1);
  });
});

// ── Media of a blocked uploader ──────────────────────────────────────────────

const shareMedia = async (from: Session, id: string, mediaId: string) => expect((await sendMedia(from, id, { mediaId })).status).toBe(201);

/** How a request was answered: its status, its error code unless it succeeded, and its body. */
async function answered(res: Response): Promise<{ status: number; code: string | null; body: string }> {
  const body = await res.text();
  return { status: res.status, code: res.status === 200 ? null : ((JSON.parse(body) as { code?: string }).code ?? null), body };
}

async function answerTo(session: Session, path: string): Promise<{ status: number; code: string | null }> {
  const { status, code } = await answered(await download(session, path));
  return { status, code };
}

describe('authorization over time: media of a user the reader blocked', () => {
  it('refused with media_not_found (bytes, thumbnail, info), shared before or after the block; another member\'s are served; an unblock serves them again', async () => {
    const w = await world();
    const fromThird = await uploadWhole(w.third, w.id, LANDSCAPE_PNG, 'image/png');
    await shareMedia(w.third, w.id, fromThird.mediaId);
    expect(await answerTo(w.reader, `/v1/media/${w.mediaId}`)).toEqual({ status: 200, code: null });
    await block(w.reader, w.owner);
    const later = await uploadWhole(w.owner, w.id, LANDSCAPE_PNG, 'image/png');
    await shareMedia(w.owner, w.id, later.mediaId);
    for (const mediaId of [w.mediaId, later.mediaId]) {
      for (const path of [`/v1/media/${mediaId}`, `/v1/media/${mediaId}/thumbnail`, `/v1/media/${mediaId}/info`]) {
        expect(await answerTo(w.reader, path), path).toEqual({ status: 404, code: 'media_not_found' });
      }
    }
    expect(await answerTo(w.reader, `/v1/media/${fromThird.mediaId}`), "another member's media").toEqual({ status: 200, code: null });
    expect(await answerTo(w.third, `/v1/media/${later.mediaId}`), 'a member who blocks nobody').toEqual({ status: 200, code: null });
    expect(await answerTo(w.owner, `/v1/media/${later.mediaId}`), 'the uploader').toEqual({ status: 200, code: null });

    await json(`/v1/blocks/${w.owner.user.id}`, { token: w.reader.accessToken, method: 'DELETE' }, 204);
    expect(await answerTo(w.reader, `/v1/media/${w.mediaId}`), 'after the unblock').toEqual({ status: 200, code: null });
  });
});

// ── In flight ────────────────────────────────────────────────────────────────

/**
 * Holds the first question any object asks about `reader`'s standing at `gate`, and then
 * gives it the answer the UserDO gave before the gate: so whatever the test does while the
 * gate is shut, the asker goes on with a standing from before it.
 */
function holdStandingQuestion(reader: Session, gate: Gate): () => void {
  let held = false;
  return patchUserDO(reader.user.id, 'standing', async (original, self, args) => {
    const before = await original.apply(self, args);
    if (args[0] !== reader.deviceId || held) return before;
    held = true;
    await gate.pass();
    return before;
  });
}

/**
 * A request of `w.reader`'s device held inside the conversation object (its standing
 * question, the only await on the history and media paths there) while the device is
 * revoked; then let go. Returns how it was answered.
 */
async function revokedInFlight(w: World, request: () => Promise<Response>): Promise<{ status: number; code: string | null; body: string }> {
  // The Worker knows the device's standing (its cache, warmed here), so the question held is the conversation's own.
  await json('/v1/conversations', { token: w.reader.accessToken }, 200);
  expect(standingCache.get({ userId: w.reader.user.id, deviceId: w.reader.deviceId }, Date.now()), "the Worker's cached standing").toEqual({ active: true, tier: 'new' });
  const gate = new Gate();
  const restore = holdStandingQuestion(w.reader, gate);
  try {
    const answer = request();
    expect(await eventually(() => gate.entered, 5_000), 'the request reached the conversation and waits on its standing').toBe(true);
    await revoke(w.reader, 'DELETE /v1/devices/:deviceId', w.readerPhone);
    gate.open();
    return answered(await answer);
  } finally {
    gate.open();
    restore();
  }
}

describe('authorization over time: a request in flight when the device is revoked', () => {
  it('history GET held in the conversation: answered 401 device_revoked, with no events', async () => {
    const w = await world();
    const answer = await revokedInFlight(w, () => call(`/v1/conversations/${w.id}/events?after=0`, { token: w.reader.accessToken }));
    expect({ status: answer.status, code: answer.code }).toEqual({ status: 401, code: 'device_revoked' });
    expect(answer.body).not.toContain('before the change');
  });

  it('media download GET held in the conversation: answered 404 media_not_found', async () => {
    const w = await world();
    const answer = await revokedInFlight(w, () => call(`/v1/media/${w.mediaId}`, { token: w.reader.accessToken }));
    expect({ status: answer.status, code: answer.code }).toEqual({ status: 404, code: 'media_not_found' });
  });
});
