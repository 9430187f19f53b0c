/**
 * @module client/ChatClient
 * The SDK's entry point: accounts and session, conversations and members over HTTP,
 * and `open()` for a live conversation (see ConversationHandle). About 530 lines: it is
 * the SDK's public surface, each method a documented line or two over HttpApi (or, for
 * end-to-end encryption, over e2ee/end-to-end.ts), and splitting it would split that surface.
 */
import { z } from 'zod';
import {
  ConversationInfo,
  ConversationSummary,
  MembersPage,
  PRESENCE,
  Presence,
  SearchPage,
  Session,
  User,
  VapidKeyResponse,
  type DeviceEvent,
  type PushSubscriptionBody,
  type Role,
} from '../protocol/index.js';
import { BACKOFF_DEFAULTS, type BackoffOptions } from './backoff.js';
import { ConversationHandle } from './conversation.js';
import { EndToEnd, MemoryE2eeStorage, type E2eeStorage, type SessionReset, type Undecryptable } from './e2ee/end-to-end.js';
import type { SafetyNumber } from './e2ee/fingerprint.js';
import { Emitter } from './emitter.js';
import { ChatError } from './errors.js';
import { HttpApi, type FetchLike } from './http.js';
import { SocketTap } from './live.js';
import { MemoryOutboxStore, Outbox, type OutboxStore } from './outbox.js';
import { wakeSource, type WakeSignal } from './reconnect.js';
import { FALLBACK_DEFAULTS, type FallbackOptions } from './transports/fallback.js';
import { InboxStream, STREAM_TIMING_DEFAULTS, type StreamStatus, type StreamTimingOptions } from './transports/inbox.js';
import { streamConversationTransport } from './transports/stream-conversation.js';
import { KEEPALIVE_DEFAULTS, type KeepaliveOptions, type Transport, type TransportKind, type TransportSignal, type WebSocketLike } from './transports/types.js';
import { webSocketTransport } from './transports/websocket.js';

/** The order `transport: 'auto'` tries the wires in: the first that is not blocked wins. */
export const TRANSPORT_ORDER: readonly TransportKind[] = ['websocket', 'sse', 'long-poll'];

export interface ChatClientOptions {
  /** Where the service runs, e.g. `http://127.0.0.1:8787` (no `/v1`). */
  baseUrl: string;
  /** A session saved from an earlier run (see the `session` event). */
  session?: Session | null;
  /**
   * Where unacked sends survive a reload. Default: memory only. In browsers pass
   * `new IndexedDbOutboxStore('chat-outbox')`.
   */
  outboxStore?: OutboxStore;
  /**
   * `'auto'` (default): WebSocket, falling back to SSE and then long polling when it is
   * blocked, and upgrading back later. A kind forces that one.
   */
  transport?: 'auto' | TransportKind;
  /** Reconnect delays (`BACKOFF_DEFAULTS`: 0.5 s doubling to 10 s, full jitter, reset after 2 s stable). */
  backoff?: Partial<BackoffOptions>;
  /**
   * Extra "try again now" signals, besides the browser's `online` event and the page
   * becoming visible, which the client listens to by itself (see `reconnectNow()`).
   */
  wake?: WakeSignal;
  keepalive?: Partial<KeepaliveOptions>;
  /** When to fall back and when to try upgrading again (`FALLBACK_DEFAULTS`). */
  fallback?: Partial<FallbackOptions>;
  /** SSE silence deadline, long-poll hold, ack batching (`STREAM_TIMING_DEFAULTS`). */
  streamTiming?: Partial<StreamTimingOptions>;
  /** How long an HTTP call may take before it counts as a network failure (default `REQUEST_TIMEOUT_MS`, 15 s). */
  requestTimeoutMs?: number;
  /** Defaults to the global `fetch`. */
  fetch?: FetchLike;
  /** Defaults to the global `WebSocket` (browsers, Node 22). */
  WebSocket?: WebSocketLike;
}

export interface ChatClientEvents extends Record<string, unknown> {
  /** The session changed (login, refresh, logout): persist it to resume later. Null: signed out. */
  session: Session | null;
  /** Which wire carries the stream now and whether it is live (e.g. "online via SSE"). */
  transport: StreamStatus;
  /** What the device event stream says about the user's conversations (see `InboxUpdate`). */
  inbox: InboxUpdate;
  /**
   * This device's stock of one-time prekeys (end-to-end encryption) fell below
   * `E2EE.lowPreKeyThreshold` after other users claimed bundles. With `enableEncryption()`
   * the client uploads more by itself. What is left of each kind. Never part of `inbox`.
   */
  prekeysLow: PreKeysLow;
  /** End-to-end encryption: a device's identity key changed (its safety number is new). Show it in the conversation. */
  identityChanged: { userId: string; deviceId: string };
  /** End-to-end encryption: one message could not be decrypted on this device (the others still can). */
  undecryptable: Undecryptable;
  /**
   * End-to-end encryption: a device started a new secure session with this one because it
   * could not decrypt (messages it missed are lost). Nothing to do; worth a notice.
   */
  sessionReset: SessionReset;
}

/** What a `prekeys_low` device event says: the one-time prekeys this device has left, by kind. */
export interface PreKeysLow {
  oneTimePreKeys: number;
  pqOneTimePreKeys: number;
}

/**
 * The device event stream as an app sees it, e.g. to keep a conversation list live.
 * `events`: new events in the user's conversations and membership changes, each once, in
 * cursor order. `activity`: a large conversation (fan-out on read) moved to `lastSeq`
 * (WebSocket only). `resync`: the stream (re)connected or dropped events, so anything
 * derived from it may be stale: read the list again.
 */
export type InboxUpdate =
  | { type: 'events'; events: DeviceEvent[] }
  | { type: 'activity'; conversationId: string; lastSeq: number }
  | { type: 'resync' };

export interface Credentials {
  handle: string;
  password: string;
  /** Shown in the account's device list. */
  deviceName: string;
}

export interface OpenOptions {
  /**
   * The seq of the last event the app already has (0, the default, delivers the whole
   * conversation). Events after it are delivered in order, fetched from history as needed.
   * `'latest'`: only events after the conversation's head when the wire first connects;
   * on the first `status: 'open'`, `lastSeq` is that head, and the app reads what came
   * before with `history({ before: lastSeq + 1 })`. Needs no request before opening, so
   * a conversation can be opened (and sent to) while offline.
   */
  after?: number | 'latest';
  /**
   * Whether the conversation is end-to-end encrypted, when the app knows it (e.g. from
   * `ConversationSummary.encrypted`). With encryption enabled, `false` opens it without
   * the encryption codec, which must otherwise read the conversation's details before the
   * first send: so a plain conversation still takes sends while offline. Default: unknown.
   */
  encrypted?: boolean;
}

/**
 * @example
 * const client = new ChatClient({ baseUrl: 'http://127.0.0.1:8787' });
 * await client.login({ handle: 'alice', password: '…', deviceName: 'laptop' });
 * const [first] = await client.conversations();
 * const chat = await client.open(first.id);
 * chat.on('message', (m) => console.log(m.seq, m.content));
 * await chat.send('hello');
 */
export class ChatClient extends Emitter<ChatClientEvents> {
  readonly #api: HttpApi;
  readonly #outbox: Outbox;
  readonly #options: ChatClientOptions;
  readonly #open = new Map<ConversationHandle, SocketTap>();
  #stream: InboxStream | null = null;
  /** Where the next device event stream resumes (see `inboxCursor`). */
  #inboxCursor = 0;
  #restored: Promise<unknown> | null = null;
  /** "Try again now" for every wire: the browser's signals, `options.wake`, and `reconnectNow()`. */
  readonly #wake = wakeSource();
  /** End-to-end encryption, once `enableEncryption()` ran for this session. */
  #e2e: EndToEnd | null = null;

  constructor(options: ChatClientOptions) {
    super();
    this.#options = options;
    const fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#api = new HttpApi(options.baseUrl, fetchFn, (session) => this.emit('session', session), {
      session: options.session ?? null,
      ...(options.requestTimeoutMs !== undefined ? { timeoutMs: options.requestTimeoutMs } : {}),
    });
    this.#outbox = new Outbox(options.outboxStore ?? new MemoryOutboxStore());
    options.wake?.(() => this.#wake.fire());
  }

  /**
   * Every wire waiting to reconnect tries again now, from the first backoff delay, and
   * open sockets are pinged to prove they still work. The client does this by itself
   * when the browser reports `online` or the page becomes visible; call it on any other
   * sign the network is back (e.g. a native app's reachability callback).
   */
  reconnectNow(): void {
    this.#wake.fire();
  }

  /** The current session, or null when signed out. */
  get session(): Session | null {
    return this.#api.session;
  }

  /** The wire the client uses now and its state, or null before the first `open()`. */
  get transport(): StreamStatus | null {
    return this.#stream?.status ?? null;
  }

  /** The signed-in user. */
  get user(): User | null {
    return this.#api.session?.user ?? null;
  }

  // ── Accounts ────────────────────────────────────────────────────────────────

  /** Creates an account and signs this device in. */
  async register(input: Credentials & { displayName: string }): Promise<Session> {
    return this.#signIn(await this.#api.request('POST', '/auth/register', { body: input, schema: Session, auth: false }));
  }

  /** Signs in as a new device of an existing account. */
  async login(input: Credentials): Promise<Session> {
    return this.#signIn(await this.#api.request('POST', '/auth/login', { body: input, schema: Session, auth: false }));
  }

  /** New access and refresh tokens now (the SDK also does this by itself when they expire). */
  refresh(): Promise<Session> {
    return this.#api.refresh();
  }

  /** Revokes this device on the server and closes every open conversation. */
  /** Signs this device out; its unsent messages are discarded with the session. */
  async logout(): Promise<void> {
    const userId = this.#api.session?.user.id;
    try {
      await this.#api.request('POST', '/auth/logout');
    } finally {
      this.close();
      this.#api.setSession(null);
      this.#restored = null;
      this.#e2e = null;
      if (userId) await this.#outbox.discard(userId);
    }
  }

  /** Looks a user up by handle, e.g. to start a direct conversation. */
  async userByHandle(handle: string): Promise<User> {
    return (await this.#api.request('GET', `/users/by-handle/${encodeURIComponent(handle)}`, { schema: z.object({ user: User }) })).user;
  }

  /** Looks a user up by id (e.g. to show a member's name). */
  async userById(id: string): Promise<User> {
    return (await this.#api.request('GET', `/users/${encodeURIComponent(id)}`, { schema: z.object({ user: User }) })).user;
  }

  // ── Push notifications ──────────────────────────────────────────────────────

  /** The VAPID key for `PushManager.subscribe({ applicationServerKey })`, base64url. */
  async vapidPublicKey(): Promise<string> {
    return (await this.#api.request('GET', '/push/vapid-public-key', { schema: VapidKeyResponse, auth: false })).publicKey;
  }

  /** Registers this device's push subscription (`subscription.toJSON()`); replaces an earlier one. */
  async subscribePush(subscription: PushSubscriptionBody): Promise<void> {
    await this.#api.request('POST', '/push/subscriptions', { body: subscription });
  }

  /** Stops push notifications to this device. */
  async unsubscribePush(): Promise<void> {
    await this.#api.request('DELETE', '/push/subscriptions');
  }

  // ── Presence ────────────────────────────────────────────────────────────────

  /**
   * Who of `userIds` is online, and when the others were last seen (null: hidden by
   * them, or never). One request per PRESENCE.maxQueryUsers ids. Live changes of the
   * members of an open conversation come as its `presence` event (WebSocket transport).
   */
  async presence(userIds: readonly string[]): Promise<Presence[]> {
    const unique = [...new Set(userIds)];
    const batches: string[][] = [];
    for (let i = 0; i < unique.length; i += PRESENCE.maxQueryUsers) batches.push(unique.slice(i, i + PRESENCE.maxQueryUsers));
    const schema = z.object({ presence: z.array(Presence) });
    const pages = await Promise.all(batches.map((ids) => this.#api.request('POST', '/presence/query', { body: { userIds: ids }, schema })));
    return pages.flatMap((page) => page.presence);
  }

  /** An access token valid for at least a while, for calls the SDK does not wrap (e.g. media downloads). */
  async accessToken(): Promise<string> {
    return this.#api.freshToken();
  }

  // ── Conversations ───────────────────────────────────────────────────────────

  /** The conversations this user belongs to. */
  async conversations(): Promise<ConversationSummary[]> {
    return (await this.#api.request('GET', '/conversations', { schema: z.object({ conversations: z.array(ConversationSummary) }) })).conversations;
  }

  /**
   * The direct conversation with `peerId`, created if it does not exist yet. With
   * `encrypted: true`, the end-to-end encrypted one (a conversation of its own beside a
   * plain one; call `enableEncryption()` first to send and read in it).
   */
  createDirect(peerId: string, options: { encrypted?: boolean } = {}): Promise<ConversationInfo> {
    return this.#create({ kind: 'direct', peerId, encrypted: options.encrypted ?? false });
  }

  /**
   * A new group, with you as owner; `encrypted: true` makes it end-to-end encrypted for
   * good, `broadcast: true` a channel where only you and the admins post.
   */
  createGroup(title: string, memberIds: string[] = [], options: { encrypted?: boolean; broadcast?: boolean } = {}): Promise<ConversationInfo> {
    return this.#create({ kind: 'group', title, memberIds, encrypted: options.encrypted ?? false, broadcast: options.broadcast ?? false });
  }

  // ── End-to-end encryption ───────────────────────────────────────────────────

  /**
   * Turns end-to-end encryption on for this device (docs/E2E.md): its keys are made and
   * published the first time, and conversations opened from now on encrypt what is sent
   * and decrypt what arrives in encrypted conversations. `storage` keeps the keys and
   * sessions (memory by default: a restarted app is then a new device, which must sign in
   * again). Idempotent.
   */
  async enableEncryption(storage: E2eeStorage = new MemoryE2eeStorage()): Promise<void> {
    const session = this.#api.session;
    if (!session) throw new ChatError('unauthenticated', 'Not logged in: call login() or register() first.');
    if (this.#e2e) return;
    const e2e = await EndToEnd.start(this.#api, { userId: session.user.id, deviceId: session.deviceId }, storage);
    e2e.on('identityChanged', (address) => this.emit('identityChanged', address));
    e2e.on('undecryptable', (notice) => this.emit('undecryptable', notice));
    e2e.on('sessionReset', (notice) => this.emit('sessionReset', notice));
    this.#e2e = e2e;
  }

  /** The 60-digit safety number between this device and one device of another user (after a session exists). */
  safetyNumber(userId: string, deviceId: string): Promise<SafetyNumber> {
    return this.#requireE2e().safetyNumber({ userId, deviceId });
  }

  /** Marks that device's identity as compared: a later change of its key is never accepted silently. */
  setVerified(userId: string, deviceId: string, verified = true): Promise<void> {
    return this.#requireE2e().setVerified({ userId, deviceId }, verified);
  }

  /**
   * Takes a new device of a contact who has a verified device: until then, sends to them
   * fail with `untrusted_identity` (a new identity is never taken silently for a verified contact).
   */
  acceptDevice(userId: string, deviceId: string): Promise<void> {
    return this.#requireE2e().acceptDevice({ userId, deviceId });
  }

  /** Whether sends to that device wait for `acceptDevice` (a new device of a contact this device verified). */
  awaitsAcceptance(userId: string, deviceId: string): Promise<boolean> {
    return this.#requireE2e().awaitsAcceptance({ userId, deviceId });
  }

  #requireE2e(): EndToEnd {
    if (!this.#e2e) throw new ChatError('e2ee_disabled', 'End-to-end encryption is not enabled on this client: call enableEncryption() first.');
    return this.#e2e;
  }

  async conversation(id: string): Promise<ConversationInfo> {
    return (await this.#api.request('GET', `/conversations/${encodeURIComponent(id)}`, { schema: z.object({ conversation: ConversationInfo }) })).conversation;
  }

  /**
   * A page of a conversation's members in join order: every member of most conversations
   * (up to LIMITS.maxListedMembers); for a channel, pass the page's `next` as `after`.
   */
  async members(id: string, page: { after?: string; limit?: number } = {}): Promise<MembersPage> {
    const query = new URLSearchParams();
    if (page.after) query.set('after', page.after);
    if (page.limit) query.set('limit', String(page.limit));
    const suffix = query.size > 0 ? `?${query}` : '';
    return this.#api.request('GET', `/conversations/${encodeURIComponent(id)}/members${suffix}`, { schema: MembersPage });
  }

  async addMember(id: string, userId: string, role: Exclude<Role, 'owner'> = 'member'): Promise<ConversationInfo> {
    const path = `/conversations/${encodeURIComponent(id)}/members`;
    return (await this.#api.request('POST', path, { body: { userId, role }, schema: z.object({ conversation: ConversationInfo }) })).conversation;
  }

  /** Removes a member; pass your own id to leave. */
  async removeMember(id: string, userId: string): Promise<void> {
    await this.#api.request('DELETE', `/conversations/${encodeURIComponent(id)}/members/${encodeURIComponent(userId)}`);
  }

  /**
   * Messages of one conversation matching `query`, newest first; pass the page's
   * `nextBefore` as `before` for older hits. End-to-end encrypted conversations answer
   * `search_unavailable`: the server cannot read them.
   */
  async search(id: string, query: string, options: { before?: number; limit?: number } = {}): Promise<SearchPage> {
    const params = new URLSearchParams({ q: query });
    if (options.before !== undefined) params.set('before', String(options.before));
    if (options.limit !== undefined) params.set('limit', String(options.limit));
    return this.#api.request('GET', `/conversations/${encodeURIComponent(id)}/search?${params}`, { schema: SearchPage });
  }

  /**
   * Opens a live conversation: events from `after` on, in order, and sending. Unacked
   * sends kept by a persistent outbox from an earlier run are resent once connected.
   */
  async open(id: string, options: OpenOptions = {}): Promise<ConversationHandle> {
    if (!this.#api.session) throw new ChatError('unauthenticated', 'Not logged in: call login() or register() first.');
    this.#restored ??= this.#outbox.restore(this.#api.session.user.id);
    await this.#restored;
    const stream = this.#ensureStream();
    const live = new SocketTap(id, (frame) => handle.onLive(frame));
    const handle: ConversationHandle = new ConversationHandle({
      live,
      api: this.#api,
      outbox: this.#outbox,
      conversationId: id,
      after: options.after ?? 0,
      createTransport: this.#transportFor(id, stream.kind, live),
      ...(this.#e2e && options.encrypted !== false ? { codec: this.#e2e.codec(id, () => this.conversation(id)) } : {}),
    });
    this.#open.set(handle, live);
    handle.on('status', (status) => {
      if (status === 'closed') this.#open.delete(handle);
    });
    handle.start();
    return handle;
  }

  /**
   * Starts this device's event stream without opening a conversation (`open()` starts it
   * too): the device then counts as online, acknowledges what arrives (so senders see
   * their messages delivered) and `inbox` events flow. Idempotent; `close()` stops it.
   */
  connect(options: { after?: number } = {}): void {
    if (!this.#api.session) throw new ChatError('unauthenticated', 'Not logged in: call login() or register() first.');
    if (options.after !== undefined) this.#inboxCursor = Math.max(this.#inboxCursor, options.after);
    this.#ensureStream();
  }

  /**
   * The cursor of the last device event handed to `inbox` listeners. An app that must see
   * each event once even across restarts stores it and passes it to `connect({ after })`
   * (the stream acknowledges up to it and drops what is not past it); within one client,
   * `close()` and `connect()` resume after it by themselves.
   */
  get inboxCursor(): number {
    return this.#stream?.cursor ?? this.#inboxCursor;
  }

  /** Closes every open conversation and the device event stream. The session stays (call `logout()` to end it). */
  close(): void {
    for (const handle of [...this.#open.keys()]) handle.close();
    if (this.#stream) this.#inboxCursor = this.#stream.cursor;
    this.#stream?.stop();
    this.#stream = null;
  }

  /** The device event stream, started on the first `open()`; it picks (and changes) the wire. */
  #ensureStream(): InboxStream {
    if (this.#stream) return this.#stream;
    const chosen = this.#options.transport ?? 'auto';
    const stream = new InboxStream({
      api: this.#api,
      WebSocket: this.#options.WebSocket ?? globalThis.WebSocket,
      order: TRANSPORT_ORDER,
      forced: chosen === 'auto' ? null : chosen,
      backoff: { ...BACKOFF_DEFAULTS, ...this.#options.backoff },
      keepalive: { ...KEEPALIVE_DEFAULTS, ...this.#options.keepalive },
      fallback: { ...FALLBACK_DEFAULTS, ...this.#options.fallback },
      timing: { ...STREAM_TIMING_DEFAULTS, ...this.#options.streamTiming },
      after: this.#inboxCursor,
      wake: this.#wake.wake,
    });
    stream.on('status', (status) => this.emit('transport', status));
    stream.on('signal', (signal) => {
      switch (signal.type) {
        case 'kind':
          for (const [handle, live] of this.#open) handle.replaceTransport(this.#transportFor(handle.id, signal.kind, live));
          return;
        case 'events': {
          // The device's own events (prekeys_low) are not about a conversation: an event of their own.
          const conversational = signal.events.filter((e) => e.kind !== 'prekeys_low');
          for (const e of signal.events) {
            if (e.kind !== 'prekeys_low') continue;
            this.emit('prekeysLow', { oneTimePreKeys: e.oneTimePreKeys, pqOneTimePreKeys: e.pqOneTimePreKeys });
            // Best effort: a failed top-up is tried again at the next event or enableEncryption().
            void this.#e2e?.replenish().catch(() => undefined);
          }
          for (const e of conversational) if (e.kind === 'event' && e.event.type === 'devices_changed') this.#e2e?.noteDevicesChanged(e.event.userId, e.event.version);
          if (conversational.length > 0) this.emit('inbox', { type: 'events', events: conversational });
          return;
        }
        case 'activity':
          this.emit('inbox', { type: 'activity', conversationId: signal.conversationId, lastSeq: signal.lastSeq });
          return;
        case 'open':
        case 'truncated':
          this.emit('inbox', { type: 'resync' });
          return;
        default:
          return;
      }
    });
    this.#stream = stream;
    stream.start();
    return stream;
  }

  /**
   * A conversation's transport on `kind`: with WebSocket, its own chat-window socket
   * (events, sends, and the live frames: typing, receipts, hidden); otherwise its share
   * of the device event stream and the conversation's feed (events, typing), with sends
   * and typing by POST.
   */
  #transportFor(id: string, kind: TransportKind, live: SocketTap): (signal: (signal: TransportSignal) => void) => Transport {
    return (signal) => {
      const context = {
        api: this.#api,
        conversationId: id,
        signal,
        backoff: { ...BACKOFF_DEFAULTS, ...this.#options.backoff },
        keepalive: { ...KEEPALIVE_DEFAULTS, ...this.#options.keepalive },
        WebSocket: live.wrap(this.#options.WebSocket ?? globalThis.WebSocket),
        wake: this.#wake.wake,
      };
      return kind === 'websocket' || !this.#stream ? webSocketTransport(context) : streamConversationTransport(this.#stream, context);
    };
  }

  #signIn(session: Session): Session {
    this.#api.setSession(session);
    return session;
  }

  async #create(body: unknown): Promise<ConversationInfo> {
    return (await this.#api.request('POST', '/conversations', { body, schema: z.object({ conversation: ConversationInfo }) })).conversation;
  }
}
