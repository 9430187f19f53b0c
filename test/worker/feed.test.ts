/**
 * A conversation's feed over HTTP (SSE and long polling served from the conversation's
 * own object, docs/PROTOCOL.md "A conversation's feed over HTTP"): what a client without
 * WebSockets relies on for the conversation it has open. Nothing lost or repeated across
 * resumes, order kept, a held request answered by the next message, members only.
 */
import { evictDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { FeedFrame, HistoryPage, type ConversationEvent, type Session } from '../../src/protocol/index.js';
import { Waiters } from '../../src/objects/waiters.js';
import { feedStream, type FeedSource } from '../../src/conversation/stream.js';
import { SSE_HEARTBEAT } from '../../src/sse.js';
import { ok } from '../../src/errors.js';
import { call, createGroup, headStart, json, quietPeriod, registerUser } from './helpers.js';
import { text } from './inbox-helpers.js';
import { serviceUser } from './abuse-helpers.js';
import { SseFrames } from './stream-helpers.js';

const send = (session: Session, id: string, body: string) =>
  json(`/v1/conversations/${id}/messages`, { token: session.accessToken, body: { cmid: crypto.randomUUID(), content: text(body) } }, 201);

async function pollFeed(session: Session, id: string, query: Record<string, string | number>): Promise<{ status: number; body: any }> {
  const res = await call(`/v1/conversations/${id}/poll?${new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]))}`, { token: session.accessToken });
  return { status: res.status, body: await res.json() };
}

const texts = (events: ConversationEvent[]) => events.flatMap((e) => (e.type === 'message' && e.content?.type === 'text' ? [e.content.text] : []));

/** A feed's SSE body, every frame checked against the protocol schema. */
class FeedReader extends SseFrames<FeedFrame> {
  constructor(body: ReadableStream<Uint8Array>) {
    super(body, FeedFrame, 'events');
  }

  events(): ConversationEvent[] {
    return this.frames.flatMap((f) => (f.type === 'events' ? f.events : []));
  }
}

async function openFeed(session: Session, id: string, options: { after?: number; lastEventId?: string } = {}): Promise<FeedReader> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
  const res = await call(`/v1/conversations/${id}/stream${options.after === undefined ? '' : `?after=${options.after}`}`, { token: session.accessToken, headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = new FeedReader(res.body!);
  await reader.until(() => reader.frames.some((f) => f.type === 'feed_ready'), 'feed_ready');
  return reader;
}

async function group(): Promise<{ alice: Session; bob: Session; id: string }> {
  const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
  return { alice, bob, id: await createGroup(alice, [bob], 'feed') };
}

describe('long polling a conversation', () => {
  it('answers at once with what is past `after`, in order, and holds until the next message otherwise', async () => {
    const { alice, bob, id } = await group();
    for (const t of ['one', 'two', 'three']) await send(alice, id, t);
    const backlog = await pollFeed(bob, id, { after: 0, timeoutMs: 5_000 });
    expect(backlog.status).toBe(200);
    const page = HistoryPage.parse(backlog.body);
    expect(texts(page.events)).toEqual(['one', 'two', 'three']);
    const after = page.events.at(-1)!.seq;

    const held = pollFeed(bob, id, { after, timeoutMs: 10_000 });
    await headStart(50);
    await send(alice, id, 'four');
    const answer = HistoryPage.parse((await held).body);
    expect(texts(answer.events)).toEqual(['four']);
    expect(answer.events[0]!.seq).toBe(after + 1);
    expect(answer.lastSeq).toBe(after + 1);
  });

  it('holds a poll ahead of the log (after = the next seq) until an event past it exists', async () => {
    const { alice, bob, id } = await group();
    const { lastSeq } = HistoryPage.parse((await pollFeed(bob, id, { after: 0, timeoutMs: 0 })).body);
    let answered = false;
    const ahead = pollFeed(bob, id, { after: lastSeq + 1, timeoutMs: 10_000 }).then((r) => ((answered = true), r));
    await headStart(50);
    await send(alice, id, 'next');
    await quietPeriod(200); // an answer for 'next' (not past `after`) would have come by now
    expect(answered).toBe(false);
    await send(alice, id, 'after next');
    const page = HistoryPage.parse((await ahead).body);
    expect(texts(page.events)).toEqual(['after next']);
  });

  it('answers an empty page when nothing comes within the hold, and at once with timeoutMs=0', async () => {
    const { bob, id } = await group();
    const { lastSeq } = HistoryPage.parse((await pollFeed(bob, id, { after: 0, timeoutMs: 0 })).body);
    const quiet = HistoryPage.parse((await pollFeed(bob, id, { after: lastSeq, timeoutMs: 0 })).body);
    expect(quiet.events).toEqual([]);
    const started = Date.now();
    const held = HistoryPage.parse((await pollFeed(bob, id, { after: lastSeq, timeoutMs: 200 })).body);
    expect(held.events).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('pages a long backlog: hasMore until the last page, nothing skipped or repeated', async () => {
    // A service account: more messages than a person may send in a minute.
    const [alice, bob] = [await serviceUser('alice'), await registerUser('bob')];
    const id = await createGroup(alice, [bob], 'backlog');
    const sent = Array.from({ length: 130 }, (_, i) => `m${i}`);
    for (const t of sent) await send(alice, id, t);
    const got: string[] = [];
    let after = 0;
    for (let i = 0; i < 5; i++) {
      const page = HistoryPage.parse((await pollFeed(bob, id, { after, timeoutMs: 0 })).body);
      got.push(...texts(page.events));
      after = page.events.at(-1)?.seq ?? after;
      if (!page.hasMore) break;
    }
    expect(got).toEqual(sent);
  });

  it('is for members only, and ends a held poll of a member who is removed', async () => {
    const { alice, bob, id } = await group();
    const stranger = await registerUser('stranger');
    const refused = await pollFeed(stranger, id, { after: 0, timeoutMs: 0 });
    expect(refused.status).toBe(404);
    expect(refused.body.code).toBe('conversation_not_found');

    const { lastSeq } = HistoryPage.parse((await pollFeed(bob, id, { after: 0, timeoutMs: 0 })).body);
    const held = pollFeed(bob, id, { after: lastSeq, timeoutMs: 10_000 });
    await headStart(50);
    await json(`/v1/conversations/${id}/members/${bob.user.id}`, { token: alice.accessToken, method: 'DELETE' }, 204);
    const ended = await held;
    expect(ended.status).toBe(404);
    expect(ended.body.code).toBe('conversation_not_found');
  });

  it('refuses a bad `after` or hold with invalid_request', async () => {
    const { bob, id } = await group();
    for (const query of [{ after: -1 }, { after: 'x' }, { after: 0, timeoutMs: -5 }, {}]) {
      const res = await pollFeed(bob, id, query as Record<string, string | number>);
      expect(res.status, JSON.stringify(query)).toBe(400);
      expect(res.body.code).toBe('invalid_request');
    }
  });

  it('loses nothing across an eviction: the next poll from the same seq has what was sent meanwhile', async () => {
    const { alice, bob, id } = await group();
    await send(alice, id, 'before');
    const first = HistoryPage.parse((await pollFeed(bob, id, { after: 0, timeoutMs: 0 })).body);
    await evictDurableObject(env.CONVERSATIONS.getByName(id));
    await send(alice, id, 'after');
    const next = HistoryPage.parse((await pollFeed(bob, id, { after: first.events.at(-1)!.seq, timeoutMs: 5_000 })).body);
    expect(texts(next.events)).toEqual(['after']);
  });

  it('shows each reader the log as history does: a message hidden for them is absent', async () => {
    const { alice, bob, id } = await group();
    const { seq } = await send(alice, id, 'hide me');
    await send(alice, id, 'keep me');
    await json(`/v1/conversations/${id}/messages/${seq}?scope=me`, { token: bob.accessToken, method: 'DELETE' }, 200);
    const bobs = HistoryPage.parse((await pollFeed(bob, id, { after: 0, timeoutMs: 0 })).body);
    const alices = HistoryPage.parse((await pollFeed(alice, id, { after: 0, timeoutMs: 0 })).body);
    expect(texts(bobs.events)).toEqual(['keep me']);
    expect(texts(alices.events)).toEqual(['hide me', 'keep me']);
  });
});

describe('the SSE feed of a conversation', () => {
  it('sends feed_ready, the backlog after `after`, then live messages, each id the last seq', async () => {
    const { alice, bob, id } = await group();
    await send(alice, id, 'old');
    const { seq } = await send(alice, id, 'backlog');
    const feed = await openFeed(bob, id, { after: seq - 1 });
    await feed.until(() => texts(feed.events()).includes('backlog'), 'the backlog');
    await send(alice, id, 'live');
    await feed.until(() => texts(feed.events()).includes('live'), 'the live message');
    feed.close();
    expect(texts(feed.events())).toEqual(['backlog', 'live']);
    expect(feed.ids).toEqual(feed.frames.flatMap((f) => (f.type === 'events' ? [String(f.events.at(-1)!.seq)] : [])));
    expect(feed.frames[0]).toEqual({ type: 'feed_ready', conversationId: id, lastSeq: seq });
  });

  it('without `after`, starts at what is new; Last-Event-ID resumes exactly after it and wins over `after`', async () => {
    const { alice, bob, id } = await group();
    const { seq: first } = await send(alice, id, 'first');
    const live = await openFeed(bob, id);
    await send(alice, id, 'second');
    await live.until(() => texts(live.events()).includes('second'), 'second');
    live.close();
    expect(texts(live.events())).toEqual(['second']);

    await send(alice, id, 'third');
    const resumed = await openFeed(bob, id, { after: 0, lastEventId: String(first) });
    await resumed.until(() => texts(resumed.events()).includes('third'), 'third');
    resumed.close();
    expect(texts(resumed.events())).toEqual(['second', 'third']);
  });

  it('refuses non-members and a Last-Event-ID that is not a seq before any stream starts', async () => {
    const { bob, id } = await group();
    const stranger = await registerUser('stranger');
    const refused = await call(`/v1/conversations/${id}/stream`, { token: stranger.accessToken });
    expect(refused.status).toBe(404);
    expect(((await refused.json()) as any).code).toBe('conversation_not_found');
    const bad = await call(`/v1/conversations/${id}/stream`, { token: bob.accessToken, headers: { 'last-event-id': 'yesterday' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).code).toBe('invalid_request');
  });

  it('tells a member who is removed why, then ends', async () => {
    const { alice, bob, id } = await group();
    const feed = await openFeed(bob, id);
    await json(`/v1/conversations/${id}/members/${bob.user.id}`, { token: alice.accessToken, method: 'DELETE' }, 204);
    await feed.until(() => feed.ended, 'the end of the feed');
    const last = feed.frames.at(-1);
    expect(last?.type === 'error' && last.code).toBe('conversation_not_found');
  });

  it('writes a heartbeat while quiet and ends at its lifetime (with a fake source and clock)', async () => {
    let clock = 0;
    const page = (events: ConversationEvent[]) => ({ conversationId: 'g_feed', events, hasMore: false, lastSeq: 7, typing: { token: '', typists: [] } });
    const source: FeedSource = {
      async feed() {
        clock += 100;
        return ok(page([]));
      },
    };
    const body = feedStream(source, { reader: { userId: 'u_a', deviceId: 'd_a' }, first: page([]), after: 7, now: () => clock, heartbeatMs: 100, lifetimeMs: 250 });
    const chunks: string[] = [];
    const reader = body.getReader();
    for (let i = 0; i < 10; i++) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(new TextDecoder().decode(value));
    }
    expect(chunks[0]).toMatch(/^retry: 1000\n\ndata: \{"type":"feed_ready"/);
    expect(chunks.slice(1)).toEqual([SSE_HEARTBEAT, SSE_HEARTBEAT, SSE_HEARTBEAT]);
  });
});

describe('held feed requests', () => {
  it('are bounded: past the limit a wait is refused, and a wake answers every one', async () => {
    const waiters = new Waiters<string>(2);
    const a = waiters.wait('d1', 10_000);
    const b = waiters.wait('d2', 10_000);
    expect(waiters.wait('d3', 10_000)).toBeNull();
    expect(waiters.size).toBe(2);
    waiters.wake('d1');
    await a;
    expect(waiters.size).toBe(1);
    expect(waiters.has('d2')).toBe(true);
    waiters.wake();
    await b;
    expect(waiters.size).toBe(0);
    expect(waiters.wait('d1', 1)).not.toBeNull();
  });
});
