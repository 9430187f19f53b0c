/**
 * @module bench/shapes/readers
 * The three wires a client reads its device event stream over (docs/PROTOCOL.md, "Inbox
 * WebSocket frames" and "The device event stream over HTTP"), each read the way the SDK
 * reads it (src/client/transports/inbox.ts), so the bench sees what a real client sees:
 *
 * - the inbox socket: `ack` after every `deliver` frame, a ping every 25 s;
 * - SSE through fetch() with the bearer header, parsed by the SDK's own parser
 *   (src/client/sse.ts), acknowledged by `POST /v1/inbox/ack` at most once a second;
 * - long polling: a first poll that does not hold, then polls that hold, each sent the
 *   moment the previous one is answered, with the last cursor (which acknowledges).
 *
 * Every reader drops what is not past its cursor (as the SDK does; counted as
 * `duplicates`), hands the rest to `onEvents(events, now, meta)` with the moment it was
 * parsed, and resolves once it has caught up with its backlog, so measurements start on
 * a live stream. A reader that ends by itself records why in `ended`.
 */
import { SseParser } from '../../src/client/sse.ts';

/** docs/PROTOCOL.md: client ping interval (inbox and chat windows). */
const PING_INTERVAL_MS = 25_000;
const PING_FRAME = '{"type":"ping"}';
/** INBOX.longPollMs: the longest hold a poll may ask for; the SDK asks for it. */
const LONG_POLL_HOLD_MS = 25_000;
/** The SDK's SSE ack batching (`ackDelayMs`). */
const SSE_ACK_DELAY_MS = 1_000;
/** The SDK's margin past the hold before a poll counts as lost (`pollMarginMs`). */
const POLL_MARGIN_MS = 10_000;

/** Keeps the events past `state.cursor`, moving it; counts the rest as duplicates. */
function fresh(state, events) {
  const out = events.filter((e) => e.cursor > state.cursor);
  state.duplicates += events.length - out.length;
  if (out.length > 0) state.cursor = out.at(-1).cursor;
  return out;
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not caught up within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resolves with `reader` once `ready` does; fails if its read loop (`running`) ends
 * first or the connect bound passes, closing the reader before the error is thrown.
 */
async function untilReady(h, reader, ready, running, what) {
  try {
    await withTimeout(Promise.race([ready, running.then(() => Promise.reject(new Error(`${what} ${reader.state.ended}`)))]), h.timeouts.connectMs, what);
  } catch (err) {
    await reader.close();
    throw err;
  }
  return reader;
}

/**
 * Reads an SSE body message by message with the SDK's parser, handing each frame (but
 * `error`, recorded in `state.ended`) to `onFrame(frame, now)`; resolves when it ends.
 */
async function readSse(res, abort, state, onFrame) {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body) {
      const messages = parser.push(decoder.decode(chunk, { stream: true }));
      const now = performance.now();
      for (const message of messages) {
        const frame = JSON.parse(message.data);
        if (frame.type === 'error') state.ended = `error frame ${message.data.slice(0, 200)}`;
        else onFrame(frame, now);
      }
    }
    state.ended ??= 'stream ended';
  } catch (err) {
    if (!abort.signal.aborted) state.ended = `stream failed: ${err.message}`;
  }
}

/** One long poll with the bearer header, given up after the hold plus the SDK's margin; the parsed answer. */
async function heldPoll(h, session, path, signal) {
  const res = await fetch(`${h.serviceUrl}${path}`, {
    headers: { authorization: `Bearer ${session.accessToken}` },
    signal: AbortSignal.any([signal, AbortSignal.timeout(LONG_POLL_HOLD_MS + POLL_MARGIN_MS)]),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

/** The inbox socket of `session`'s device (`/v1/inbox/ws`); resolves at `caught_up`. */
export async function openInboxSocket(h, session, onEvents) {
  const { url, protocols } = h.serviceSocket('/v1/inbox/ws', session);
  const state = { cursor: 0, duplicates: 0, ended: null };
  const ws = new WebSocket(url, protocols);
  const ping = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(PING_FRAME), PING_INTERVAL_MS);
  const caughtUp = new Promise((resolve, reject) => {
    ws.onerror = () => reject(new Error('inbox socket error'));
    ws.onclose = (ev) => {
      state.ended = `closed ${ev.code}`;
      reject(new Error(`inbox socket closed (${ev.code})`));
    };
    ws.onmessage = (ev) => {
      const now = performance.now();
      const frame = JSON.parse(ev.data);
      if (frame.type === 'deliver') {
        const events = fresh(state, frame.events);
        if (events.length > 0) onEvents(events, now);
        ws.send(JSON.stringify({ type: 'ack', cursor: state.cursor }));
      } else if (frame.type === 'caught_up') {
        resolve();
      } else if (frame.type === 'error') {
        state.ended = `error frame ${ev.data.slice(0, 200)}`;
      }
    };
  });
  const reader = {
    state,
    close() {
      clearInterval(ping);
      ws.onclose = null;
      ws.onerror = null;
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
    },
  };
  try {
    await withTimeout(caughtUp, h.timeouts.connectMs, 'inbox socket');
  } catch (err) {
    reader.close();
    throw err;
  }
  return reader;
}

/** `session`'s device event stream over SSE (`/v1/inbox/events`); resolves at `caught_up`. */
export async function openSseReader(h, session, onEvents) {
  const state = { cursor: 0, duplicates: 0, ended: null };
  const abort = new AbortController();
  let ackTimer = null;
  let acked = 0;
  // As the SDK: the ack first (its reachability check), then the stream.
  await h.http('POST', '/v1/inbox/ack', { token: session.accessToken, body: { cursor: 0 } });
  const res = await fetch(`${h.serviceUrl}/v1/inbox/events`, {
    headers: { authorization: `Bearer ${session.accessToken}`, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  if (!res.ok || !res.body) throw new Error(`GET /v1/inbox/events: ${res.status} ${(await res.text()).slice(0, 200)}`);

  const scheduleAck = () => {
    if (ackTimer) return;
    ackTimer = setTimeout(() => {
      ackTimer = null;
      const cursor = state.cursor;
      if (cursor <= acked) return;
      h.http('POST', '/v1/inbox/ack', { token: session.accessToken, body: { cursor } }).then(
        () => (acked = Math.max(acked, cursor)),
        () => undefined, // the next ack covers it
      );
    }, SSE_ACK_DELAY_MS);
  };

  let caughtUpResolve;
  const caughtUp = new Promise((resolve) => (caughtUpResolve = resolve));
  const reading = readSse(res, abort, state, (frame, now) => {
    if (frame.type === 'deliver') {
      const events = fresh(state, frame.events);
      if (events.length > 0) {
        onEvents(events, now);
        scheduleAck();
      }
    } else if (frame.type === 'caught_up') {
      caughtUpResolve();
    }
  });
  const reader = {
    state,
    close() {
      clearTimeout(ackTimer);
      abort.abort();
      return reading;
    },
  };
  return untilReady(h, reader, caughtUp, reading, 'SSE');
}

/**
 * `session`'s device event stream over long polling (`/v1/inbox/poll`). Every answered
 * poll is kept in `polls` ({ sentAt, answeredAt, events }), so a shape can tell what the
 * re-poll gap costs; `onEvents` gets the poll that carried the events as `meta`.
 * Resolves once a poll finds nothing more waiting.
 */
export async function startLongPoll(h, session, onEvents) {
  const state = { cursor: 0, duplicates: 0, ended: null };
  const polls = [];
  const abort = new AbortController();
  let stopped = false;
  let caughtUpResolve;
  const caughtUp = new Promise((resolve) => (caughtUpResolve = resolve));

  const loop = (async () => {
    for (let first = true; !stopped; first = false) {
      const query = new URLSearchParams({ timeoutMs: String(first ? 0 : LONG_POLL_HOLD_MS) });
      if (state.cursor > 0) query.set('cursor', String(state.cursor));
      const poll = { sentAt: performance.now(), answeredAt: 0, events: 0 };
      let page;
      try {
        page = await heldPoll(h, session, `/v1/inbox/poll?${query}`, abort.signal);
      } catch (err) {
        if (!stopped) state.ended = `poll failed: ${err.message}`;
        return;
      }
      poll.answeredAt = performance.now();
      const events = fresh(state, page.events);
      poll.events = events.length;
      polls.push(poll);
      if (events.length > 0) onEvents(events, poll.answeredAt, poll);
      if (page.events.length === 0 || state.cursor >= page.lastCursor) caughtUpResolve();
    }
  })();
  const reader = {
    state,
    polls,
    close() {
      stopped = true;
      abort.abort();
      return loop;
    },
  };
  return untilReady(h, reader, caughtUp, loop, 'long poll');
}

// ── A conversation's feed (the conversation a fallback client has open) ────────

/** Keeps the events past `state.seq`, moving it; counts the rest as duplicates. */
function freshBySeq(state, events) {
  const out = events.filter((e) => e.seq > state.seq);
  state.duplicates += events.length - out.length;
  if (out.length > 0) state.seq = out.at(-1).seq;
  return out;
}

/** What the SDK reads when it opens a conversation over a fallback wire: its lastSeq, from a one-event history page. */
async function lastSeqOf(h, session, conversationId) {
  const page = await h.http('GET', `/v1/conversations/${conversationId}/events?limit=1`, { token: session.accessToken });
  return page.lastSeq;
}

/**
 * The conversation's feed over SSE (`/v1/conversations/:id/stream`), as the SDK reads it
 * for an open conversation (src/client/transports/feed.ts): from the lastSeq it read on
 * opening, with `Last-Event-ID`. Resolves at `feed_ready`.
 */
export async function openFeedSse(h, session, conversationId, onEvents) {
  const state = { seq: await lastSeqOf(h, session, conversationId), duplicates: 0, ended: null };
  const abort = new AbortController();
  const res = await fetch(`${h.serviceUrl}/v1/conversations/${conversationId}/stream`, {
    headers: { authorization: `Bearer ${session.accessToken}`, accept: 'text/event-stream', 'last-event-id': String(state.seq) },
    signal: abort.signal,
  });
  if (!res.ok || !res.body) throw new Error(`GET /v1/conversations/:id/stream: ${res.status} ${(await res.text()).slice(0, 200)}`);
  let readyResolve;
  const ready = new Promise((resolve) => (readyResolve = resolve));
  const reading = readSse(res, abort, state, (frame, now) => {
    if (frame.type === 'events') {
      const events = freshBySeq(state, frame.events);
      if (events.length > 0) onEvents(events, now);
    } else if (frame.type === 'feed_ready') {
      readyResolve();
    }
  });
  const reader = {
    state,
    close() {
      abort.abort();
      return reading;
    },
  };
  return untilReady(h, reader, ready, reading, 'feed SSE');
}

/**
 * The conversation's feed by long polling (`/v1/conversations/:id/poll`), as the SDK
 * polls it for an open conversation: from the lastSeq it read on opening, each poll held
 * up to 25 s and sent the moment the previous one is answered, with the last seq. Every
 * answered poll is kept in `polls` (as `startLongPoll`). Resolves once the first poll is
 * held, i.e. at once.
 */
export async function startFeedPoll(h, session, conversationId, onEvents) {
  const state = { seq: await lastSeqOf(h, session, conversationId), duplicates: 0, ended: null };
  const polls = [];
  const abort = new AbortController();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const query = new URLSearchParams({ after: String(state.seq), timeoutMs: String(LONG_POLL_HOLD_MS) });
      const poll = { sentAt: performance.now(), answeredAt: 0, events: 0 };
      let page;
      try {
        page = await heldPoll(h, session, `/v1/conversations/${conversationId}/poll?${query}`, abort.signal);
      } catch (err) {
        if (!stopped) state.ended = `poll failed: ${err.message}`;
        return;
      }
      poll.answeredAt = performance.now();
      const events = freshBySeq(state, page.events);
      poll.events = events.length;
      polls.push(poll);
      if (events.length > 0) onEvents(events, poll.answeredAt, poll);
    }
  })();
  return {
    state,
    polls,
    close() {
      stopped = true;
      abort.abort();
      return loop;
    },
  };
}
