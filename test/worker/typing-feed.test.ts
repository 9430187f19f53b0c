/**
 * Typing on the fallback wires (issue 18, item 5): a client without a chat-window socket
 * types with `POST /v1/conversations/:id/typing`, which goes through the socket frame's
 * checks (member, device standing, the per-device limits), and reads who is typing from
 * the conversation's feed: `typing` frames on the SSE feed, a `typing` view on each long
 * poll answer, which wakes a held poll without moving its seq. Both through the one
 * delivery rule: a user's typing never reaches a member who blocked them.
 */
import { describe, expect, it } from 'vitest';
import { FeedFrame, FeedPage, TYPING, type Session } from '../../src/protocol/index.js';
import { call, createDirect, createGroup, headStart, openWindow, quietPeriod, registerUser } from './helpers.js';
import { SseFrames } from './stream-helpers.js';

/** Says `body` (raw text when a string) to the typing route as `session`. */
const typing = (session: Session, id: string, body: unknown) =>
  call(`/v1/conversations/${id}/typing`, {
    token: session.accessToken,
    ...(typeof body === 'string' ? { method: 'POST', rawBody: body, headers: { 'content-type': 'application/json' } } : { body }),
  });

async function problem(res: Response): Promise<{ status: number; code: string; retryAfter: string | null }> {
  return { status: res.status, code: ((await res.json()) as { code: string }).code, retryAfter: res.headers.get('retry-after') };
}

/** One long poll of the feed that follows typing from `token`, its answer checked against the schema. */
async function poll(session: Session, id: string, query: { after: number; timeoutMs: number; typing?: string }): Promise<FeedPage> {
  const params = new URLSearchParams({ after: String(query.after), timeoutMs: String(query.timeoutMs) });
  if (query.typing !== undefined) params.set('typing', query.typing);
  const res = await call(`/v1/conversations/${id}/poll?${params}`, { token: session.accessToken });
  const body: unknown = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(200);
  return FeedPage.parse(body);
}

class FeedReader extends SseFrames<FeedFrame> {
  constructor(body: ReadableStream<Uint8Array>) {
    super(body, FeedFrame, 'events');
  }

  typing() {
    return this.frames.flatMap((f) => (f.type === 'typing' ? [f] : []));
  }
}

async function openFeed(session: Session, id: string): Promise<FeedReader> {
  const res = await call(`/v1/conversations/${id}/stream`, { token: session.accessToken, headers: { accept: 'text/event-stream' } });
  expect(res.status).toBe(200);
  const reader = new FeedReader(res.body!);
  await reader.until(() => reader.frames.some((f) => f.type === 'feed_ready'), 'feed_ready');
  return reader;
}

describe('POST /v1/conversations/:id/typing', () => {
  it('answers 204; refuses a bad body with a stable code, a stranger as for no conversation, a second start within a second, a signed-out device', async () => {
    const [alice, bob, stranger] = [await registerUser('alice'), await registerUser('bob'), await registerUser('stranger')];
    const id = await createDirect(alice, bob);

    expect(await problem(await typing(alice, id, '{"state":'))).toMatchObject({ status: 400, code: 'invalid_json' });
    expect(await problem(await typing(alice, id, { state: 'maybe' }))).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(await problem(await typing(alice, id, { state: 'start', extra: 1 }))).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(await problem(await typing(stranger, id, { state: 'start' }))).toMatchObject({ status: 404, code: 'conversation_not_found' });
    expect(await problem(await typing(stranger, 'g_nonexistent', { state: 'start' }))).toMatchObject({ status: 404, code: 'conversation_not_found' });
    expect((await call(`/v1/conversations/${id}/typing`, { body: { state: 'start' } })).status).toBe(401);

    expect((await typing(alice, id, { state: 'start' })).status).toBe(204);
    const limited = await problem(await typing(alice, id, { state: 'start' }));
    expect(limited).toMatchObject({ status: 429, code: 'rate_limited' });
    expect(Number(limited.retryAfter)).toBeGreaterThan(0);
    // A stop is never limited, and a stop when not typing is answered all the same.
    expect((await typing(alice, id, { state: 'stop' })).status).toBe(204);
    expect((await typing(alice, id, { state: 'stop' })).status).toBe(204);

    // A device signed out may not type any more.
    expect((await call('/v1/auth/logout', { token: alice.accessToken, method: 'POST' })).status).toBe(204);
    expect(await problem(await typing(alice, id, { state: 'start' }))).toMatchObject({ status: 401, code: 'device_revoked' });
  });

  it('reaches the chat windows as the socket frame does: a start with its expiry, then the stop', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const bw = await openWindow(bob, id);
    expect((await typing(alice, id, { state: 'start' })).status).toBe(204);
    const start = await bw.next('typing', (f) => f.state === 'start');
    expect(start).toMatchObject({ conversationId: id, userId: alice.user.id, deviceId: alice.deviceId, expiresInMs: TYPING.ttlMs });
    expect((await typing(alice, id, { state: 'stop' })).status).toBe(204);
    await bw.next('typing', (f) => f.state === 'stop' && f.userId === alice.user.id);
    bw.close();
  });
});

describe('the feed carries typing', () => {
  it('over SSE: a socket typer shows as a start, without an SSE id, then the stop when it expires', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const feed = await openFeed(bob, id);
    const aw = await openWindow(alice, id);
    aw.send({ type: 'typing', state: 'start' });
    const start = await feed.until(() => feed.typing().find((f) => f.state === 'start'), 'a typing start');
    expect(start).toMatchObject({ conversationId: id, userId: alice.user.id, deviceId: alice.deviceId });
    expect(start.expiresInMs).toBeGreaterThan(0);
    expect(start.expiresInMs).toBeLessThanOrEqual(TYPING.ttlMs);
    // Ephemeral: no SSE id, so a reconnect's Last-Event-ID stays the last seq.
    expect(feed.ids).toEqual([]);
    const stop = await feed.until(() => feed.typing().find((f) => f.state === 'stop'), 'the stop at expiry', TYPING.ttlMs + 5_000);
    expect(stop).toMatchObject({ userId: alice.user.id, deviceId: alice.deviceId });
    feed.close();
    aw.close();
  });

  it('over long polling: a held poll answers when someone starts typing, with no events and the same seq, then when they stop', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const first = await poll(bob, id, { after: 0, timeoutMs: 0, typing: '' });
    expect(first.typing).toEqual({ token: '', typists: [] });
    const after = first.lastSeq;

    const held = poll(bob, id, { after, timeoutMs: 10_000, typing: first.typing!.token });
    await headStart(50);
    const startedAt = Date.now();
    expect((await typing(alice, id, { state: 'start' })).status).toBe(204);
    const started = await held;
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(started.events).toEqual([]);
    expect(started.lastSeq).toBe(after);
    expect(started.typing!.typists).toEqual([{ userId: alice.user.id, deviceId: alice.deviceId, expiresInMs: expect.any(Number) }]);

    // Asked again with the token it got, the poll is held: nothing changed for this reader.
    const again = poll(bob, id, { after, timeoutMs: 10_000, typing: started.typing!.token });
    await headStart(50);
    expect((await typing(alice, id, { state: 'stop' })).status).toBe(204);
    const stopped = await again;
    expect(stopped.events).toEqual([]);
    expect(stopped.typing).toEqual({ token: '', typists: [] });
  });

  it("never carries a blocked user's typing to the member who blocked them, on either wire, while others see it", async () => {
    const [alice, bob, carol] = [await registerUser('alice'), await registerUser('bob'), await registerUser('carol')];
    const id = await createGroup(alice, [bob, carol]);
    expect((await call(`/v1/blocks/${bob.user.id}`, { token: alice.accessToken, method: 'PUT' })).status).toBe(204);
    const aliceFeed = await openFeed(alice, id);
    const carolFeed = await openFeed(carol, id);
    const base = await poll(alice, id, { after: 0, timeoutMs: 0, typing: '' });
    let aliceAnswered = false;
    const aliceHeld = poll(alice, id, { after: base.lastSeq, timeoutMs: 2_000, typing: '' }).then((page) => ((aliceAnswered = true), page));
    await headStart(50);

    expect((await typing(bob, id, { state: 'start' })).status).toBe(204);
    await carolFeed.until(() => carolFeed.typing().find((f) => f.userId === bob.user.id && f.state === 'start'), "Bob's start, to Carol");
    const carolPoll = await poll(carol, id, { after: base.lastSeq, timeoutMs: 0, typing: '' });
    expect(carolPoll.typing!.typists.map((t) => t.userId)).toEqual([bob.user.id]);

    // Alice's held poll is not woken by it and answers at its timeout with nobody typing.
    await quietPeriod(300);
    expect(aliceAnswered).toBe(false);
    const aliceLate = await aliceHeld;
    expect(aliceLate.typing).toEqual({ token: '', typists: [] });
    expect(aliceFeed.typing()).toEqual([]);

    // Carol typing does reach Alice, so her feed was listening all along.
    expect((await typing(carol, id, { state: 'start' })).status).toBe(204);
    await aliceFeed.until(() => aliceFeed.typing().find((f) => f.userId === carol.user.id), "Carol's start, to Alice");
    expect(aliceFeed.typing().some((f) => f.userId === bob.user.id)).toBe(false);
    aliceFeed.close();
    carolFeed.close();
  });

  it('opened while someone types, an SSE feed says so right after feed_ready', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    expect((await typing(alice, id, { state: 'start' })).status).toBe(204);
    const feed = await openFeed(bob, id);
    await feed.until(() => feed.typing().length > 0, 'a typing frame');
    expect(feed.frames.map((f) => f.type)).toEqual(['feed_ready', 'typing']);
    expect(feed.typing()[0]).toMatchObject({ userId: alice.user.id, state: 'start' });
    feed.close();
  });

  it('does not show a reader their own typing', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    expect((await typing(alice, id, { state: 'start' })).status).toBe(204);
    const own = await poll(alice, id, { after: 0, timeoutMs: 0, typing: '' });
    expect(own.typing).toEqual({ token: '', typists: [] });
    const peer = await poll(bob, id, { after: 0, timeoutMs: 0, typing: '' });
    expect(peer.typing!.typists).toHaveLength(1);
  });
});
