/**
 * Helpers for the boundary tests (issue 15): every wire a reader can hold open, opened the
 * same way and observed the same way, so a test can make a change while it is open and
 * then ask two questions: what did it receive, and how did it end. Also fault injection
 * into a UserDO's RPC methods, scoped to one user. Every wait is bounded.
 */
import { exports } from 'cloudflare:workers';
import { pumpSse } from './stream-helpers.js';
import { UserDO } from '../../src/user/UserDO.js';
import type { ConversationEvent, DeviceEvent, ServerFrame, Session } from '../../src/protocol/index.js';
import { BASE, TestSocket, call, headStart, json, randomAddress, ticket } from './helpers.js';
import { openInbox, text } from './inbox-helpers.js';

export { text };

/** The polling interval of `eventually` and `Gate` (both bounded waits on state). */
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves with the value, or with `TIMED_OUT` after `ms`. */
export const TIMED_OUT = Symbol('timed out');
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `check` holds, polling every 25 ms, at most `timeoutMs`; false if it never did. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
}

/** A second device of the user (a new login), from its own client address so login limits do not couple tests. */
export async function loginDevice(session: Session, deviceName = 'another device'): Promise<Session> {
  return json<Session>(
    '/v1/auth/login',
    { body: { handle: session.user.handle, password: 'correct horse battery', deviceName }, headers: { 'cf-connecting-ip': randomAddress() } },
    200,
  );
}

export type Revocation = 'DELETE /v1/devices/:deviceId' | 'POST /v1/auth/logout';

/** Signs `device` out: removed from `other` (another device of the same user), or logged out by itself. */
export async function revoke(device: Session, how: Revocation, other: Session): Promise<void> {
  if (how === 'POST /v1/auth/logout') await json('/v1/auth/logout', { token: device.accessToken, method: 'POST' }, 204);
  else await json(`/v1/devices/${device.deviceId}`, { token: other.accessToken, method: 'DELETE' }, 204);
}

/** Sends a text over HTTP; returns its seq. */
export async function sendText(session: Session, conversationId: string, body: string, cmid: string = crypto.randomUUID()): Promise<number> {
  const ack = await json(`/v1/conversations/${conversationId}/messages`, { token: session.accessToken, body: { cmid, content: text(body) } }, 201);
  return ack.seq as number;
}

/** The whole log as `session` sees it (history pages, oldest first). */
export async function historyOf(session: Session, conversationId: string): Promise<ConversationEvent[]> {
  const out: ConversationEvent[] = [];
  let after = 0;
  for (let page = 0; page < 50; page++) {
    const res = await json(`/v1/conversations/${conversationId}/events?after=${after}&limit=100`, { token: session.accessToken }, 200);
    out.push(...(res.events as ConversationEvent[]));
    if (!res.hasMore || res.events.length === 0) break;
    after = res.events.at(-1).seq;
  }
  return out;
}

export async function block(blocker: Session, blocked: Session): Promise<void> {
  await json(`/v1/blocks/${blocked.user.id}`, { token: blocker.accessToken, method: 'PUT' }, 204);
}

// ── Fault injection ─────────────────────────────────────────────────────────

/**
 * Replaces one RPC method of the UserDO of `userId` (only that user's object; every other
 * UserDO keeps the real method). Returns the restore function.
 *
 * Why the prototype: assigning the method on the instance (inside `runInDurableObject`)
 * does not run the replacement; the test harness's RPC dispatch then refuses the call
 * with "The RPC receiver does not implement the method" (checked while writing these
 * tests). The prototype is shared by the worker and the tests (one isolate), so a
 * replacement there runs, and it can wait on the test (see `Gate`).
 */
export function patchUserDO<K extends 'apply' | 'leaseSends' | 'blockedIds' | 'standing'>(
  userId: string,
  method: K,
  replacement: (original: UserDO[K], self: UserDO, args: Parameters<UserDO[K]>) => ReturnType<UserDO[K]>,
): () => void {
  const proto = UserDO.prototype as unknown as Record<string, unknown>;
  const original = proto[method] as UserDO[K];
  const patched = function (this: UserDO, ...args: Parameters<UserDO[K]>) {
    const name = (this as unknown as { ctx: DurableObjectState }).ctx.id.name;
    if (name !== userId) return (original as (...a: unknown[]) => unknown).apply(this, args);
    return replacement(original, this, args);
  };
  proto[method] = patched;
  return () => {
    if (proto[method] === patched) proto[method] = original;
  };
}

/** A gate an injected method can wait at: the test sees it entered, then opens it. Waits are bounded. */
export class Gate {
  entered = false;
  opened = false;

  /** For the injected method: mark entered, then wait (at most `maxMs`) until opened. */
  async pass(maxMs = 10_000): Promise<void> {
    this.entered = true;
    const deadline = Date.now() + maxMs;
    while (!this.opened && Date.now() < deadline) await sleep(10);
  }

  open(): void {
    this.opened = true;
  }
}

// ── Wires ────────────────────────────────────────────────────────────────────

/** How a wire ended: a socket's close code, an SSE error frame's code, or an HTTP status and code. */
export interface Ending {
  close?: number;
  status?: number;
  code?: string | null;
  /** An SSE body that ended without an error frame. */
  endedSilently?: boolean;
  /** Still open when the wait ran out. */
  timedOut?: boolean;
}

/** Anything a wire carried: conversation events (chat windows, feeds, history) or device events (inbox wires). */
export type Carried = ConversationEvent | DeviceEvent;

export interface Wire {
  name: string;
  /** Everything received so far, in arrival order. */
  received(): Carried[];
  /** Frames other than events (typing, presence, errors...), for the wires that have them. */
  frames(): unknown[];
  /** How it ended, waiting at most `timeoutMs`. */
  ended(timeoutMs: number): Promise<Ending>;
  close(): void;
}

/** The conversation events a carried item stands for (device events unwrapped). */
export function conversationEvents(items: Carried[], conversationId?: string): ConversationEvent[] {
  return items.flatMap((item): ConversationEvent[] => {
    if ('kind' in item) return item.kind === 'event' && (conversationId === undefined || item.conversationId === conversationId) ? [item.event] : [];
    return [item];
  });
}

/** A socket that completed its upgrade (or a 101 carrying a refusal), without asserting anything about it. */
export async function rawUpgrade(path: string): Promise<{ status: number; socket: TestSocket | null; body: string }> {
  const res = await exports.default.fetch(`${BASE}${path}`, { headers: { upgrade: 'websocket' } });
  if (res.status !== 101 || !res.webSocket) return { status: res.status, socket: null, body: await res.text() };
  const socket = new TestSocket(res.webSocket);
  res.webSocket.accept();
  return { status: 101, socket, body: '' };
}

function socketWire(name: string, socket: TestSocket, received: () => Carried[]): Wire {
  return {
    name,
    received,
    frames: () => socket.frames,
    async ended(timeoutMs) {
      const closed = await within(eventually(() => socket.closed !== null, timeoutMs), timeoutMs + 100);
      if (closed !== true || !socket.closed) return { timedOut: true };
      const error = socket.frames.find((f): f is Extract<ServerFrame, { type: 'error' }> => f.type === 'error');
      return { close: socket.closed.code, code: error?.code ?? null };
    },
    close: () => socket.close(),
  };
}

/** A chat-window socket, `ready` received. */
export async function windowWire(session: Session, conversationId: string): Promise<Wire & { socket: TestSocket }> {
  const { socket } = await rawUpgrade(`/v1/conversations/${conversationId}/ws?ticket=${await ticket(session)}`);
  if (!socket) throw new Error('chat window upgrade refused');
  await socket.next('ready', undefined, 5_000);
  return { ...socketWire('chat window socket', socket, () => socket.events()), socket };
}

/** The device's inbox socket, caught up. */
export async function inboxWire(session: Session): Promise<Wire> {
  const inbox = await openInbox(session);
  return socketWire('inbox socket', inbox.socket, () => inbox.events());
}

/** An SSE body read without schema checks (a frame type added later must not stop the reader), every message kept. */
class SseBody {
  readonly messages: { id: string; data: any }[] = [];
  done = false;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
    void this.#pump();
  }

  async #pump(): Promise<void> {
    await pumpSse(this.#reader, (m) => {
      let data: unknown = m.data;
      try {
        data = JSON.parse(m.data);
      } catch {
        // kept as text
      }
      this.messages.push({ id: m.id, data });
    });
    this.done = true;
  }

  frames(): any[] {
    return this.messages.map((m) => m.data);
  }

  cancel(): void {
    void this.#reader.cancel().catch(() => undefined);
  }
}

function sseWire(name: string, sse: SseBody, received: () => Carried[]): Wire {
  return {
    name,
    received,
    frames: () => sse.frames(),
    async ended(timeoutMs) {
      const done = await eventually(() => sse.done, timeoutMs);
      const error = sse.frames().find((f) => f?.type === 'error');
      if (!done) return error ? { code: error.code, timedOut: true } : { timedOut: true };
      return error ? { code: error.code } : { endedSilently: true };
    },
    close: () => sse.cancel(),
  };
}

/** The device event stream over SSE, caught up. */
export async function deviceSseWire(session: Session): Promise<Wire> {
  const res = await call('/v1/inbox/events', { token: session.accessToken, headers: { accept: 'text/event-stream' } });
  if (res.status !== 200) throw new Error(`device SSE refused: ${res.status} ${await res.text()}`);
  const sse = new SseBody(res.body!);
  if (!(await eventually(() => sse.frames().some((f) => f?.type === 'caught_up'), 5_000))) throw new Error('device SSE never caught up');
  return sseWire('device SSE stream', sse, () => sse.frames().flatMap((f) => (f?.type === 'deliver' ? (f.events as DeviceEvent[]) : [])));
}

/** A conversation's feed over SSE, only new events, `feed_ready` received. */
export async function feedSseWire(session: Session, conversationId: string): Promise<Wire> {
  const res = await call(`/v1/conversations/${conversationId}/stream`, { token: session.accessToken, headers: { accept: 'text/event-stream' } });
  if (res.status !== 200) throw new Error(`feed SSE refused: ${res.status} ${await res.text()}`);
  const sse = new SseBody(res.body!);
  if (!(await eventually(() => sse.frames().some((f) => f?.type === 'feed_ready'), 5_000))) throw new Error('feed SSE never got feed_ready');
  return sseWire('conversation feed SSE', sse, () => sse.frames().flatMap((f) => (f?.type === 'events' ? (f.events as ConversationEvent[]) : [])));
}

/**
 * One held HTTP request (a long poll): received() is what its answer carried, ended() its
 * status and code. Abortable, so a request still held when the test ends does not linger.
 */
function heldRequestWire(name: string, path: string, session: Session, carried: (body: any) => Carried[]): Wire {
  const abort = new AbortController();
  let answer: { status: number; body: any } | null = null;
  const request = exports.default
    .fetch(`${BASE}${path}`, { headers: { authorization: `Bearer ${session.accessToken}` }, signal: abort.signal })
    .then(async (res) => {
      const textBody = await res.text();
      let body: any = textBody;
      try {
        body = JSON.parse(textBody);
      } catch {
        // kept as text
      }
      answer = { status: res.status, body };
    })
    .catch(() => undefined);
  return {
    name,
    received: () => (answer && answer.status === 200 ? carried(answer.body) : []),
    frames: () => (answer ? [answer.body] : []),
    async ended(timeoutMs) {
      await within(request, timeoutMs);
      if (!answer) return { timedOut: true };
      const a = answer as { status: number; body: any };
      return { status: a.status, code: typeof a.body === 'object' && a.body !== null ? (a.body.code ?? null) : null };
    },
    close: () => abort.abort(),
  };
}

/** A conversation feed long poll, held (nothing after `after` yet), with a head start to be waiting (see `headStart`). */
export async function feedPollWire(session: Session, conversationId: string, after: number, timeoutMs = 20_000): Promise<Wire> {
  const wire = heldRequestWire('conversation feed poll (held)', `/v1/conversations/${conversationId}/poll?after=${after}&timeoutMs=${timeoutMs}`, session, (body) => body.events ?? []);
  await headStart(300);
  return wire;
}

/** A device event long poll, held (the device has nothing unread), with a head start to be waiting (see `headStart`). */
export async function inboxPollWire(session: Session, upTo?: { conversationId: string; seq: number }, timeoutMs = 20_000): Promise<Wire> {
  // First drain what is waiting (up to `upTo`, whose fan-out may still be on its way), so
  // the next poll is held rather than answered with an event from before the test's change.
  let cursor: number | null = null;
  for (const deadline = Date.now() + 5_000; ; ) {
    const page: { events: any[] } = await json(`/v1/inbox/poll?timeoutMs=0${cursor === null ? '' : `&cursor=${cursor}`}`, { token: session.accessToken }, 200);
    cursor = page.events.at(-1)?.cursor ?? cursor;
    const reached = (e: any) => e.conversationId === upTo?.conversationId && (e.kind === 'event' ? e.event.seq : e.seq) >= upTo!.seq;
    if (!upTo || page.events.some(reached) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const query = cursor === null ? `timeoutMs=${timeoutMs}` : `cursor=${cursor}&timeoutMs=${timeoutMs}`;
  const wire = heldRequestWire('device event poll (held)', `/v1/inbox/poll?${query}`, session, (body) => body.events ?? []);
  await headStart(300);
  return wire;
}

/** Whether any received item mentions `needle` anywhere (content, edits, previews). */
export function mentions(items: unknown[], needle: string): boolean {
  return JSON.stringify(items).includes(needle);
}
