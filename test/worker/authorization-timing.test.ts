/**
 * The authorization table's time dimension (issue 15): a change made *while* a wire is
 * open or a request is in flight. Rows are wires, columns are changes; each cell opens the
 * wire for `reader`, makes the change, then has the blocked/removed/revoked side keep
 * talking (the owner sends, a third member sends) and asks two questions: what did the
 * wire carry afterwards, and how did it end.
 *
 * - device revoked (DELETE /v1/devices/:id from the reader's other device): nothing
 *   afterwards; sockets close 4004, SSE streams end with an `error` frame
 *   `device_revoked`, requests answer 401 `device_revoked`.
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
 * Cells left out, on purpose:
 * - media GET x user blocked: whether the blocker may download media the blocked user
 *   shares later is not decided (the message carrying it arrives hidden, so there is no
 *   reference to follow).
 * - push x user blocked: whether a hidden message notifies is not decided.
 */
import { describe, expect, inject, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { call, createDirect, createGroup, json, quietPeriod, registerUser } from './helpers.js';
import { uploadWhole } from './media-helpers.js';
import { LANDSCAPE_PNG } from '../fixtures/images.js';
import type { ConversationEvent, Session } from '../../src/protocol/index.js';
import {
  block,
  conversationEvents,
  deviceSseWire,
  eventually,
  feedPollWire,
  feedSseWire,
  historyOf,
  inboxWire,
  loginDevice,
  mentions,
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
  ends: Partial<Record<Change, Ending>>;
}

const ROWS: Row[] = [
  { wire: 'chat window socket', live: true, open: (w) => windowWire(w.reader, w.id), ends: { 'device revoked': { close: 4004 }, 'member removed': { close: 4003 }, 'user blocked': {} } },
  { wire: 'inbox socket', live: true, deviceWide: true, open: (w) => inboxWire(w.reader), ends: { 'device revoked': { close: 4004 }, 'member removed': {}, 'user blocked': {} } },
  { wire: 'device SSE stream', live: true, deviceWide: true, open: (w) => deviceSseWire(w.reader), ends: { 'device revoked': { code: 'device_revoked' }, 'member removed': {}, 'user blocked': {} } },
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
    open: (w) => requestWire('media download GET', () => call(`/v1/media/${w.mediaId}`, { token: w.reader.accessToken }), () => []),
    // user blocked: left out (see the header).
    ends: { 'device revoked': { status: 401, code: 'device_revoked' }, 'member removed': { status: 404, code: 'media_not_found' } },
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

          if (change === 'user blocked') {
            // The wire stays open; the third member's message (sent after the owner's) is the
            // sign the owner's has had its chance to arrive. A held feed poll answers with the
            // first event it may show, which is either of the two.
            if (!row.live) expect(await wire.ended(PROMPTLY_MS)).toMatchObject(expected);
            const seen = () => conversationEvents(wire.received(), w.id);
            const arrived = await eventually(() => seen().some((e) => e.seq === thirdSeq || (row.feed === true && e.seq === ownerSeq)), 10_000);
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
async function fannedOut(w: World): Promise<void> {
  const lastSeq = async () => ((await json('/v1/conversations', { token: w.reader.accessToken }, 200)).conversations as { id: string; lastSeq: number }[]).find((c) => c.id === w.id)?.lastSeq;
  await expect.poll(lastSeq, { timeout: 10_000, interval: 25 }).toBe(w.lastSeq);
}

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
});
