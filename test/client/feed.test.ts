import { describe, expect, it } from 'vitest';
import type { BackoffOptions } from '../../src/client/backoff.js';
import { Emitter } from '../../src/client/emitter.js';
import { ChatError } from '../../src/client/errors.js';
import type { HttpApi, RequestOptions } from '../../src/client/http.js';
import { ReorderBuffer } from '../../src/client/reorder.js';
import { ConversationFeed, type ConversationFeedOptions } from '../../src/client/transports/feed.js';
import { STREAM_TIMING_DEFAULTS, type InboxStream, type StreamSignal, type StreamStatus } from '../../src/client/transports/inbox.js';
import { streamConversationTransport } from '../../src/client/transports/stream-conversation.js';
import { KEEPALIVE_DEFAULTS, type TransportSignal } from '../../src/client/transports/types.js';
import { parseFeedFrame, type IncomingEvent, type TypingSignal } from '../../src/client/wire.js';

const CONV = 'c_feed';
const author = { userId: 'u_alice', deviceId: 'd_phone' };
const message = (seq: number) => ({ seq, ts: 1, author, type: 'message', cmid: `cmid${String(seq).padStart(8, '0')}`, content: { type: 'text', text: `m${seq}` } });
const page = (seqs: number[], hasMore = false) => ({ conversationId: CONV, events: seqs.map(message), hasMore, lastSeq: seqs.at(-1) ?? 0 });
const BACKOFF: BackoffOptions = { initialDelayMs: 5, maxDelayMs: 20, factor: 2, jitter: 'none' };
const TIMING = { sseDeadlineMs: 1_000, pollHoldMs: 60_000, pollMarginMs: 500 };

/** Resolves once `check` holds; fails after `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A quiet period, for "nothing more happens" checks only (each use is one: no further poll, no late delivery). */
const quietPeriod = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A poll answer (a page, or a thrown error); with none scripted, a poll is held until aborted, as the server holds it. */
type Answer = unknown | ChatError;

/** An HttpApi double: records every call and answers from a script. */
class FakeApi {
  readonly polls: { path: string; query: URLSearchParams; options: RequestOptions<unknown> }[] = [];
  /** Posts of typing signals (`POST …/typing`), answered at once. */
  readonly typingPosts: { path: string; body: unknown }[] = [];
  readonly streams: { path: string; headers: Record<string, string>; feed: SseFeed }[] = [];
  readonly answers: Answer[] = [];
  readonly refusals: ChatError[] = [];
  /** Answers to the transport's lastSeq reads (`GET …/events?limit=1`), which are not recorded as polls. */
  readonly heads: unknown[] = [];

  request<T>(method: string, path: string, options: RequestOptions<T> = {}): Promise<T> {
    const [route, search] = path.split('?');
    if (route!.endsWith('/events')) return Promise.resolve(this.heads.shift() as T);
    if (route!.endsWith('/typing')) {
      this.typingPosts.push({ path: `${method} ${route}`, body: options.body });
      return Promise.resolve(undefined as T);
    }
    this.polls.push({ path: `${method} ${route}`, query: new URLSearchParams(search), options: options as RequestOptions<unknown> });
    if (this.answers.length > 0) {
      const answer = this.answers.shift();
      return answer instanceof ChatError ? Promise.reject(answer) : Promise.resolve(answer as T);
    }
    return new Promise((_, reject) => options.signal?.addEventListener('abort', () => reject(new ChatError('network', 'aborted')), { once: true }));
  }

  async openStream(path: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    const refusal = this.refusals.shift();
    if (refusal) throw refusal;
    const feed = new SseFeed(signal);
    this.streams.push({ path, headers, feed });
    return new Response(feed.body, { headers: { 'content-type': 'text/event-stream' } });
  }
}

/** One SSE response body the test writes to. */
class SseFeed {
  readonly body: ReadableStream<Uint8Array>;
  cancelled = false;
  #controller!: ReadableStreamDefaultController<Uint8Array>;

  constructor(signal: AbortSignal) {
    this.body = new ReadableStream({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.cancelled = true;
      },
    });
    signal.addEventListener('abort', () => (this.cancelled = true), { once: true });
  }

  send(frame: unknown, id?: number): void {
    if (this.cancelled) return;
    this.#controller.enqueue(new TextEncoder().encode(`${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(frame)}\n\n`));
  }

  ready(lastSeq: number): void {
    this.send({ type: 'feed_ready', conversationId: CONV, lastSeq });
  }

  events(seqs: number[]): void {
    this.send({ type: 'events', conversationId: CONV, events: seqs.map(message) }, seqs.at(-1));
  }

  end(): void {
    if (!this.cancelled) this.#controller.close();
  }
}

function follow(api: FakeApi, kind: ConversationFeedOptions['kind'], after: number) {
  const delivered: IncomingEvent[][] = [];
  const closed: ChatError[] = [];
  const typing: TypingSignal[] = [];
  const feed = new ConversationFeed({
    api,
    conversationId: CONV,
    kind,
    timing: TIMING,
    backoff: BACKOFF,
    onEvents: (events) => delivered.push(events),
    onTyping: (signals) => typing.push(...signals),
    onClosed: (error) => closed.push(error),
  });
  feed.start(after);
  const seqs = () => delivered.flat().map((e) => e.seq);
  return { feed, delivered, closed, seqs, typing };
}

describe('parseFeedFrame', () => {
  it('reads feed_ready, events (tolerantly, like the socket) and error frames', () => {
    expect(parseFeedFrame(JSON.stringify({ type: 'feed_ready', conversationId: CONV, lastSeq: 4 }))).toEqual({ type: 'feed_ready', conversationId: CONV, lastSeq: 4 });
    const events = parseFeedFrame(JSON.stringify({ type: 'events', conversationId: CONV, events: [message(5), { seq: 6, ts: 1, author, type: 'poll_created' }] }));
    expect(events.type === 'events' && events.events.map((e) => [e.seq, e.event !== null])).toEqual([
      [5, true],
      [6, false],
    ]);
    expect(parseFeedFrame(JSON.stringify({ type: 'error', code: 'conversation_not_found', message: 'gone' }))).toEqual({
      type: 'error',
      error: { code: 'conversation_not_found', message: 'gone' },
    });
  });

  it('ignores other frames, malformed ones and non-JSON', () => {
    expect(parseFeedFrame(JSON.stringify({ type: 'feed_ready', conversationId: CONV }))).toEqual({ type: 'unknown' });
    expect(parseFeedFrame(JSON.stringify({ type: 'ready', conversationId: CONV, userId: 'u_a', deviceId: 'd_a', lastSeq: 1 }))).toEqual({ type: 'unknown' });
    expect(parseFeedFrame('{"type":"pong"}')).toEqual({ type: 'unknown' });
    expect(parseFeedFrame('not json')).toEqual({ type: 'unknown' });
  });
});

describe('ConversationFeed over long polling', () => {
  it('delivers pages in order, asking after the last seq delivered, and polls again at once on hasMore', async () => {
    const api = new FakeApi();
    api.answers.push(page([4, 5], true), page([6]));
    const { feed, seqs } = follow(api, 'long-poll', 3);
    await until(() => api.polls.length === 3, 1_000, 'the third poll');
    expect(seqs()).toEqual([4, 5, 6]);
    expect(api.polls.map((p) => p.path)).toEqual([`GET /conversations/${CONV}/poll`, `GET /conversations/${CONV}/poll`, `GET /conversations/${CONV}/poll`]);
    expect(api.polls.map((p) => p.query.get('after'))).toEqual(['3', '5', '6']);
    // The hold is the stream's, capped at the server's maximum; the request may take the hold plus a margin.
    expect(api.polls.map((p) => p.query.get('timeoutMs'))).toEqual(['25000', '25000', '25000']);
    expect(api.polls[0]!.options.timeoutMs).toBe(25_500);
    feed.stop();
  });

  it('keeps the same after past an empty answer and drops events at or below it', async () => {
    const api = new FakeApi();
    api.answers.push(page([]), page([2, 3, 4]));
    const { feed, seqs } = follow(api, 'long-poll', 3);
    await until(() => api.polls.length === 3, 1_000, 'the third poll');
    expect(api.polls.map((p) => p.query.get('after'))).toEqual(['3', '3', '4']);
    expect(seqs()).toEqual([4]);
    feed.stop();
  });

  it('backs off and retries after a network error or a rate limit, losing and doubling nothing', async () => {
    const api = new FakeApi();
    api.answers.push(page([1, 2]), new ChatError('network', 'cut'), new ChatError('rate_limited', 'slow down', { status: 429, retryAfterMs: 30 }), new ChatError('internal', 'oops', { status: 503 }), page([3]));
    const { feed, seqs, closed } = follow(api, 'long-poll', 0);
    const started = Date.now();
    await until(() => api.polls.length === 6, 2_000, 'the sixth poll');
    // The rate limit's retryAfterMs was waited out.
    expect(Date.now() - started).toBeGreaterThanOrEqual(30);
    expect(api.polls.map((p) => p.query.get('after'))).toEqual(['0', '2', '2', '2', '2', '3']);
    expect(seqs()).toEqual([1, 2, 3]);
    expect(closed).toEqual([]);
    feed.stop();
  });

  it('stops for good on conversation_not_found and says so once', async () => {
    const api = new FakeApi();
    api.answers.push(page([1]), new ChatError('conversation_not_found', 'gone', { status: 404 }));
    const { seqs, closed } = follow(api, 'long-poll', 0);
    await until(() => closed.length === 1, 1_000, 'closed');
    await quietPeriod(50);
    expect(closed.map((e) => e.code)).toEqual(['conversation_not_found']);
    expect(api.polls).toHaveLength(2);
    expect(seqs()).toEqual([1]);
  });

  it('stops quietly on a server without the feed routes (not_found): the device event stream still serves the conversation', async () => {
    const api = new FakeApi();
    api.answers.push(new ChatError('not_found', 'No route', { status: 404 }));
    const { closed } = follow(api, 'long-poll', 0);
    await quietPeriod(50);
    expect(api.polls).toHaveLength(1);
    expect(closed).toEqual([]);
  });

  it('stop() abandons the held poll and sends nothing more', async () => {
    const api = new FakeApi();
    const { feed, delivered } = follow(api, 'long-poll', 7);
    await until(() => api.polls.length === 1, 1_000, 'the held poll');
    const held = api.polls[0]!.options.signal!;
    feed.stop();
    expect(held.aborted).toBe(true);
    api.answers.push(page([8]));
    await quietPeriod(50);
    expect(api.polls).toHaveLength(1);
    expect(delivered).toEqual([]);
  });
});

describe('ConversationFeed over SSE', () => {
  it('parses events frames, and reconnects at once after the stream ends, with Last-Event-ID = the last seq', async () => {
    const api = new FakeApi();
    const { feed, seqs, delivered } = follow(api, 'sse', 3);
    await until(() => api.streams.length === 1, 1_000, 'the stream');
    const first = api.streams[0]!;
    expect(first.path).toBe(`/conversations/${CONV}/stream`);
    expect(first.headers['last-event-id']).toBe('3');
    first.feed.ready(3);
    first.feed.events([4, 5]);
    first.feed.send({ type: 'events', conversationId: 'c_other', events: [message(9)] }, 9);
    first.feed.events([6]);
    await until(() => seqs().length === 3, 1_000, 'three events');
    expect(delivered.map((batch) => batch.map((e) => e.seq))).toEqual([[4, 5], [6]]);
    first.feed.end();
    await until(() => api.streams.length === 2, 1_000, 'the reconnect');
    const second = api.streams[1]!;
    expect(second.headers['last-event-id']).toBe('6');
    second.feed.ready(6);
    // An overlap (the server resent 6) is not delivered twice.
    second.feed.events([6, 7]);
    await until(() => seqs().length === 4, 1_000, 'the fourth event');
    expect(seqs()).toEqual([4, 5, 6, 7]);
    feed.stop();
    expect(second.feed.cancelled).toBe(true);
  });

  it('stops for good on an error frame with conversation_not_found', async () => {
    const api = new FakeApi();
    const { seqs, closed } = follow(api, 'sse', 0);
    await until(() => api.streams.length === 1, 1_000, 'the stream');
    const stream = api.streams[0]!.feed;
    stream.ready(0);
    stream.events([1]);
    stream.send({ type: 'error', code: 'conversation_not_found', message: 'You are no longer a member.' });
    stream.end();
    await until(() => closed.length === 1, 1_000, 'closed');
    await quietPeriod(50);
    expect(closed.map((e) => e.code)).toEqual(['conversation_not_found']);
    expect(api.streams).toHaveLength(1);
    expect(seqs()).toEqual([1]);
  });

  it('reconnects after an internal error frame, a refused open and a silent stream', async () => {
    const api = new FakeApi();
    api.refusals.push(new ChatError('rate_limited', 'busy', { status: 429, retryAfterMs: 10 }));
    const { feed, seqs, closed } = follow(api, 'sse', 0);
    await until(() => api.streams.length === 1, 1_000, 'the stream after the refusal');
    const first = api.streams[0]!.feed;
    first.ready(0);
    first.events([1]);
    first.send({ type: 'error', code: 'internal', message: 'fault' });
    await until(() => api.streams.length === 2, 1_000, 'the reconnect after the fault');
    expect(api.streams[1]!.headers['last-event-id']).toBe('1');
    api.streams[1]!.feed.ready(1);
    // Says nothing past the silence deadline: counted dead and replaced.
    await until(() => api.streams.length === 3, 3_000, 'the reconnect after silence');
    expect(api.streams[1]!.feed.cancelled).toBe(true);
    api.streams[2]!.feed.events([2]);
    await until(() => seqs().length === 2, 1_000, 'the second event');
    expect(seqs()).toEqual([1, 2]);
    expect(closed).toEqual([]);
    feed.stop();
  });

  it('stop() cancels the stream and opens no other', async () => {
    const api = new FakeApi();
    const { feed, delivered } = follow(api, 'sse', 0);
    await until(() => api.streams.length === 1, 1_000, 'the stream');
    feed.stop();
    expect(api.streams[0]!.feed.cancelled).toBe(true);
    api.streams[0]!.feed.events([1]);
    await quietPeriod(50);
    expect(api.streams).toHaveLength(1);
    expect(delivered).toEqual([]);
  });
});

/** The device event stream, as far as a conversation transport sees it. */
class FakeStream extends Emitter<{ signal: StreamSignal; status: StreamStatus }> {
  readonly kind = 'long-poll';
  readonly status: StreamStatus = { kind: 'long-poll', state: 'open' };
  readonly timing = { ...STREAM_TIMING_DEFAULTS, pollHoldMs: 1_000 };
  fire(signal: StreamSignal): void {
    this.emit('signal', signal);
  }
}

describe('a conversation transport on a fallback wire', () => {
  it('follows the feed from each announced lastSeq, keeps routing the device stream (the conversation drops repeats), and stops on close', async () => {
    const api = new FakeApi();
    const stream = new FakeStream();
    const signals: TransportSignal[] = [];
    const transport = streamConversationTransport(stream as unknown as InboxStream, {
      api: api as unknown as HttpApi,
      conversationId: CONV,
      signal: (s) => signals.push(s),
      backoff: BACKOFF,
      keepalive: KEEPALIVE_DEFAULTS,
      WebSocket: globalThis.WebSocket,
    });
    // What the conversation does with events, whichever way they came: each seq once, in order.
    const buffer = new ReorderBuffer<IncomingEvent>(5);
    const shown = () => signals.flatMap((s) => (s.type === 'events' ? buffer.push(s.events) : [])).map((e) => e.seq);
    api.heads.push(page([5]));
    api.answers.push(page([6]));
    transport.start();
    await until(() => api.polls.length === 2, 1_000, 'the held second poll');
    expect(signals[0]).toEqual({ type: 'open', lastSeq: 5 });
    expect(api.polls.map((p) => [p.query.get('after'), p.query.get('timeoutMs')])).toEqual([
      ['5', '1000'],
      ['6', '1000'],
    ]);
    expect(api.polls[0]!.options.timeoutMs).toBe(1_000 + STREAM_TIMING_DEFAULTS.pollMarginMs);

    // The same event through the UserDO, and the next one there first.
    stream.fire({ type: 'events', events: [6, 7].map((seq) => ({ kind: 'event' as const, cursor: seq, conversationId: CONV, event: message(seq) as never })) });
    expect(signals.filter((s) => s.type === 'events').map((s) => s.type === 'events' && s.events.map((e) => e.seq))).toEqual([[6], [6, 7]]);
    expect(shown()).toEqual([6, 7]);

    // The stream reopened: a new lastSeq read, and the feed restarts from it.
    const held = api.polls[1]!.options.signal!;
    api.heads.push(page([9]));
    stream.fire({ type: 'open', kind: 'long-poll' });
    await until(() => api.polls.length === 3, 1_000, 'the poll after the re-announce');
    expect(held.aborted).toBe(true);
    expect(signals.filter((s) => s.type === 'open')).toEqual([
      { type: 'open', lastSeq: 5 },
      { type: 'open', lastSeq: 9 },
    ]);
    expect(api.polls[2]!.query.get('after')).toBe('9');

    transport.close();
    expect(api.polls[2]!.options.signal!.aborted).toBe(true);
    await quietPeriod(50);
    expect(api.polls).toHaveLength(3);
  });

  it('closes the conversation when its feed says the user is no longer a member', async () => {
    const api = new FakeApi();
    const signals: TransportSignal[] = [];
    const transport = streamConversationTransport(new FakeStream() as unknown as InboxStream, {
      api: api as unknown as HttpApi,
      conversationId: CONV,
      signal: (s) => signals.push(s),
      backoff: BACKOFF,
      keepalive: KEEPALIVE_DEFAULTS,
      WebSocket: globalThis.WebSocket,
    });
    api.heads.push(page([2]));
    api.answers.push(new ChatError('conversation_not_found', 'gone', { status: 404 }));
    transport.start();
    await until(() => signals.some((s) => s.type === 'closed'), 1_000, 'closed');
    expect(signals.map((s) => (s.type === 'closed' ? s.error.code : s.type))).toEqual(['open', 'conversation_not_found']);
    expect(transport.send({ cmid: 'cmid00000001', content: { type: 'text', text: 'late' } })).toBe(false);
  });
});

describe('typing on a fallback wire', () => {
  const bob = { userId: 'u_bob', deviceId: 'd_bob' };
  const carol = { userId: 'u_carol', deviceId: 'd_carol' };
  const view = (token: string, typists: { userId: string; deviceId: string; expiresInMs: number }[]) => ({ token, typists });

  it('parseFeedFrame reads a typing frame as the socket gives it', () => {
    const frame = { type: 'typing', conversationId: CONV, ...bob, state: 'start', expiresInMs: 5_000 };
    expect(parseFeedFrame(JSON.stringify(frame))).toEqual({ type: 'typing', conversationId: CONV, typing: { ...bob, state: 'start', expiresInMs: 5_000 } });
    expect(parseFeedFrame(JSON.stringify({ type: 'typing', conversationId: CONV, state: 'start' }))).toEqual({ type: 'unknown' });
  });

  it('long polling: sends back the last token, turns each changed view into starts and stops, and never moves the seq', async () => {
    const api = new FakeApi();
    api.answers.push(
      { ...page([]), lastSeq: 3, typing: view('1.100', [{ ...bob, expiresInMs: 4_000 }]) },
      { ...page([]), lastSeq: 3, typing: view('2.200', [{ ...bob, expiresInMs: 3_000 }, { ...carol, expiresInMs: 5_000 }]) },
      { ...page([4]), typing: view('1.200', [{ ...carol, expiresInMs: 4_500 }]) },
      // A server that says nothing of typing: nothing changes.
      page([5]),
    );
    const { feed, typing, seqs } = follow(api, 'long-poll', 3);
    await until(() => api.polls.length === 5, 1_000, 'the fifth poll');
    expect(api.polls.map((p) => [p.query.get('after'), p.query.get('typing')])).toEqual([
      ['3', ''],
      ['3', '1.100'],
      ['3', '2.200'],
      ['4', '1.200'],
      ['5', '1.200'],
    ]);
    expect(typing).toEqual([
      { ...bob, state: 'start', expiresInMs: 4_000 },
      { ...bob, state: 'start', expiresInMs: 3_000 },
      { ...carol, state: 'start', expiresInMs: 5_000 },
      { ...bob, state: 'stop' },
      { ...carol, state: 'start', expiresInMs: 4_500 },
    ]);
    expect(seqs()).toEqual([4, 5]);
    feed.stop();
  });

  it('SSE: passes typing frames on, and a reconnect still resumes after the last seq', async () => {
    const api = new FakeApi();
    const { feed, typing } = follow(api, 'sse', 3);
    await until(() => api.streams.length === 1, 1_000, 'the stream');
    const first = api.streams[0]!.feed;
    first.ready(3);
    first.events([4]);
    first.send({ type: 'typing', conversationId: CONV, ...bob, state: 'start', expiresInMs: 5_000 });
    first.send({ type: 'typing', conversationId: 'c_other', ...carol, state: 'start', expiresInMs: 5_000 });
    first.send({ type: 'typing', conversationId: CONV, ...bob, state: 'stop' });
    await until(() => typing.length === 2, 1_000, 'two typing signals');
    expect(typing).toEqual([
      { ...bob, state: 'start', expiresInMs: 5_000 },
      { ...bob, state: 'stop' },
    ]);
    first.end();
    await until(() => api.streams.length === 2, 1_000, 'the reconnect');
    expect(api.streams[1]!.headers['last-event-id']).toBe('4');
    feed.stop();
  });

  it("the conversation transport posts the user's typing in order and passes others' on as typing signals", async () => {
    const api = new FakeApi();
    const signals: TransportSignal[] = [];
    const transport = streamConversationTransport(new FakeStream() as unknown as InboxStream, {
      api: api as unknown as HttpApi,
      conversationId: CONV,
      signal: (s) => signals.push(s),
      backoff: BACKOFF,
      keepalive: KEEPALIVE_DEFAULTS,
      WebSocket: globalThis.WebSocket,
    });
    // Not open yet: nothing to say it on.
    expect(transport.typing!('start')).toBe(false);
    api.heads.push(page([2]));
    api.answers.push({ ...page([]), lastSeq: 2, typing: view('1.7', [{ ...bob, expiresInMs: 5_000 }]) });
    transport.start();
    await until(() => signals.some((s) => s.type === 'typing'), 1_000, 'a typing signal');
    expect(signals.filter((s) => s.type === 'typing')).toEqual([{ type: 'typing', typing: { ...bob, state: 'start', expiresInMs: 5_000 } }]);
    expect(transport.typing!('start')).toBe(true);
    expect(transport.typing!('stop')).toBe(true);
    await until(() => api.typingPosts.length === 2, 1_000, 'two typing posts');
    expect(api.typingPosts).toEqual([
      { path: `POST /conversations/${CONV}/typing`, body: { state: 'start' } },
      { path: `POST /conversations/${CONV}/typing`, body: { state: 'stop' } },
    ]);
    transport.close();
    expect(transport.typing!('start')).toBe(false);
  });
});
