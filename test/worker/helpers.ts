/**
 * Test helpers: call the Worker as a client would (HTTP and WebSocket through the
 * Worker's own fetch handler), with every wait bounded.
 */
import { exports } from 'cloudflare:workers';
import { expect } from 'vitest';
import type { ConversationSummary, ServerFrame, Session } from '../../src/protocol/index.js';
import type { ConversationDO } from '../../src/conversation/ConversationDO.js';
import type { ConversationParts } from '../../src/conversation/parts.js';
import type { ConversationStore } from '../../src/conversation/store.js';
import * as fanout from '../../src/conversation/fanout.js';
import * as members from '../../src/conversation/members.js';

export const BASE = 'http://chat.test';

/** A running conversation object's parts (a private field: reached only from a test, inside `runInDurableObject`). */
export function partsOf(instance: ConversationDO): ConversationParts {
  return (instance as unknown as { parts: ConversationParts }).parts;
}

/**
 * A fan-out target over a conversation's own store, as its delivery builds one, to drive
 * passes directly: nobody watching, passes not spaced, events seen as stored, nothing
 * recorded. `parts` replaces any of it; `deliver` says what a call does.
 */
export function storeFanoutTarget(store: ConversationStore, conversationId: string, parts: Partial<fanout.FanoutTarget> & Pick<fanout.FanoutTarget, 'deliver'>): fanout.FanoutTarget {
  return {
    store,
    conversationId,
    kind: 'group',
    memberCount: () => members.memberCount(store),
    members: () => members.memberIds(store),
    memberPage: (after, limit) => members.memberPage(store, after, limit),
    isMember: (userId) => members.member(store, userId) !== null,
    watching: () => false,
    tuning: { ...fanout.FANOUT_DEFAULTS, minPassIntervalMs: 0, passIntervalPerMemberMs: 0 },
    memory: fanout.newPassMemory(),
    viewsOf: (events) => () => events,
    record: () => {},
    ...parts,
  };
}

/**
 * Waits `ms` on purpose, in two cases only, each named where it is used: a quiet period
 * that gives something that must *not* happen (a message after a revocation, another
 * relay) the time to happen, or a quiet spell a test needs before its next step (a timer
 * window that must have passed). Never a wait for something to happen: wait on the state
 * for that (`expect.poll`, `socket.next`, `until`).
 */
export function quietPeriod(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A head start for a held request whose registration nothing outside the object shows
 * (held long polls): the test passes either way, a late request answers the same, but
 * only a held one exercises the wake-up. Used by name so it is not mistaken for a wait.
 */
export const headStart = quietPeriod;

export interface CallOptions {
  method?: string;
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
  rawBody?: string;
}

export async function call(path: string, options: CallOptions = {}): Promise<Response> {
  const headers = new Headers(options.headers);
  if (options.token) headers.set('authorization', `Bearer ${options.token}`);
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(options.body);
  }
  return exports.default.fetch(`${BASE}${path}`, { method: options.method ?? (body === undefined ? 'GET' : 'POST'), headers, body });
}

export async function json<T = any>(path: string, options: CallOptions = {}, expectStatus?: number): Promise<T> {
  const res = await call(path, options);
  const text = await res.text();
  if (expectStatus !== undefined) expect(res.status, `${options.method ?? 'GET'} ${path}: ${text}`).toBe(expectStatus);
  return (text ? JSON.parse(text) : null) as T;
}

export function uniqueHandle(prefix = 'user'): string {
  return `${prefix}_${crypto.randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

/** A made-up client address, so per-address limits do not couple unrelated tests. */
export function randomAddress(): string {
  const [a, b, c] = crypto.getRandomValues(new Uint8Array(3));
  return `10.${a}.${b}.${c}`;
}

export async function registerUser(prefix = 'user', deviceName = 'test device'): Promise<Session> {
  return json<Session>(
    '/v1/auth/register',
    {
      body: { handle: uniqueHandle(prefix), displayName: prefix, password: 'correct horse battery', deviceName },
      headers: { 'cf-connecting-ip': randomAddress() },
    },
    201,
  );
}

export async function createGroup(owner: Session, members: Session[], title = 'group'): Promise<string> {
  const res = await json('/v1/conversations', { token: owner.accessToken, body: { kind: 'group', title, memberIds: members.map((m) => m.user.id) } }, 201);
  return res.conversation.id;
}

/** `session`'s conversation-list entry for `conversationId`, if listed. */
export async function summaryOf(session: Session, conversationId: string): Promise<ConversationSummary | undefined> {
  const { conversations } = await json<{ conversations: ConversationSummary[] }>('/v1/conversations', { token: session.accessToken }, 200);
  return conversations.find((c) => c.id === conversationId);
}

/** Waits until `session`'s UserDO has applied `conversationId` up to `seq` (its conversation list says so). */
export async function listedUpTo(session: Session, conversationId: string, seq: number): Promise<void> {
  await expect.poll(async () => (await summaryOf(session, conversationId))?.lastSeq, { timeout: 10_000, interval: 25 }).toBe(seq);
}

export async function createDirect(a: Session, b: Session): Promise<string> {
  const res = await json('/v1/conversations', { token: a.accessToken, body: { kind: 'direct', peerId: b.user.id } }, 201);
  return res.conversation.id;
}

export async function ticket(session: Session): Promise<string> {
  return (await json('/v1/auth/tickets', { token: session.accessToken, method: 'POST' }, 201)).ticket;
}

/** A client-side socket with a queue of parsed frames and bounded waits. */
export class TestSocket {
  readonly frames: ServerFrame[] = [];
  private waiters: (() => void)[] = [];
  closed: { code: number; reason: string } | null = null;

  constructor(readonly ws: WebSocket) {
    ws.addEventListener('message', (e) => {
      this.frames.push(JSON.parse(e.data as string) as ServerFrame);
      this.wake();
    });
    ws.addEventListener('close', (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.wake();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Waits until `predicate` holds over the frames received so far. */
  async until<T>(predicate: (frames: ServerFrame[]) => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = predicate(this.frames);
      if (value) return value;
      if (this.closed && !predicate(this.frames)) {
        throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.slice(-3))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The first frame of `type` matching `match`, waiting for it. */
  next<K extends ServerFrame['type']>(type: K, match: (f: Extract<ServerFrame, { type: K }>) => boolean = () => true, timeoutMs?: number) {
    return this.until(
      (frames) => frames.find((f): f is Extract<ServerFrame, { type: K }> => f.type === type && match(f as Extract<ServerFrame, { type: K }>)),
      `a "${type}" frame`,
      timeoutMs,
    );
  }

  async waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    return this.until(() => this.closed ?? undefined, 'close', timeoutMs);
  }

  /** All events received, flattened, in arrival order. */
  events() {
    return this.frames.flatMap((f) => (f.type === 'events' ? f.events : []));
  }

  close(): void {
    try {
      this.ws.close(1000, 'done');
    } catch {
      // already closed
    }
  }
}

export async function upgrade(path: string, headers: Record<string, string> = {}): Promise<TestSocket> {
  const res = await exports.default.fetch(`${BASE}${path}`, { headers: { upgrade: 'websocket', ...headers } });
  expect(res.status, `upgrade ${path}`).toBe(101);
  const ws = res.webSocket!;
  const socket = new TestSocket(ws);
  ws.accept();
  return socket;
}

/** Opens a chat-window socket and waits for its `ready` frame. */
export async function openWindow(session: Session, conversationId: string): Promise<TestSocket> {
  const socket = await upgrade(`/v1/conversations/${conversationId}/ws?ticket=${await ticket(session)}`);
  await socket.next('ready');
  return socket;
}
