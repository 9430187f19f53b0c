/**
 * @module conversation/ConversationDO
 * One object per conversation: its single writer. Owns membership and roles, the event
 * log with its gap-free seq, the durable outbox to members' UserDOs, and the hibernatable
 * "chat window" sockets of clients that have this conversation open.
 *
 * This class is a shell: RPC methods and runtime hooks over the parts in ./parts.ts (one
 * store, and a module per responsibility). Every method that reads for a member or acts
 * for one passes the member's device through the one delivery rule (./visibility.ts);
 * methods return a `Result` rather than throwing a refusal, because an error's class does
 * not survive RPC. A failure that is not a refusal still throws, and the caller answers
 * `internal` (retries are safe: sends are idempotent by cmid).
 *
 * About 475 lines because the object's whole RPC surface is here, one short method each
 * (the writes wrapped in their caller's request id): reading the class is reading what
 * the Worker and the other objects may ask of a conversation.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env.js';
import { AppError, attempt, attemptAsync, fail, ok, type Result } from '../errors.js';
import { REQUEST_ID_HEADER, withRequestId, type Trace } from '../log.js';
import { record } from '../metrics.js';
import { migrate } from '../storage/migrate.js';
import {
  INBOX,
  PING_FRAME,
  PONG_FRAME,
  type Ack,
  type ConversationInfo,
  type ConversationKind,
  type DeleteScopeRequest,
  type FeedPage,
  type HistoryPage,
  type HistoryQuery,
  type MediaInfo,
  type Member,
  type MembersPage,
  type MessageContent,
  type MessagePreview,
  type Presence,
  type ReceiptDetail,
  type ReceiptsOverview,
  type Role,
  type SearchPage,
} from '../protocol/index.js';
import { answerClose, closeQuietly, upgradeIdentity } from '../objects/sockets.js';
import { CLOSE_CODES, LIMITS } from '../protocol/index.js';
import { CONVERSATION_MIGRATIONS } from './schema.js';
import { noteDevicesChanged } from './devices-changed.js';
import type { SentReport } from './allowance.js';
import * as blocks from './blocks.js';
import { FrameDispatcher } from './frames.js';
import { historyPage, historyPageJson } from './history.js';
import * as lifecycle from './lifecycle.js';
import * as eventLog from './log.js';
import * as media from './media.js';
import { decodePosition, encodePosition, member, memberCount, memberPage } from './members.js';
import type { CreateInit } from './membership.js';
import { loadMeta, requireMeta } from './meta.js';
import { assemble, type ConversationParts } from './parts.js';
import * as receipts from './receipts.js';
import * as search from './search.js';
import type { SendRequest } from './send.js';
import type { RelayPage, RelayRefusal } from './relays.js';
import { admit, contentForDevice, hearsFrom, messagesForDevice, type Reader } from './visibility.js';
import type { SocketIdentity } from '../auth/accounts.js';

export type { CreateInit } from './membership.js';

export class ConversationDO extends DurableObject<Env> {
  private readonly parts: ConversationParts;
  private readonly frames: FrameDispatcher;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, CONVERSATION_MIGRATIONS);
    this.parts = assemble(ctx, env);
    this.frames = new FrameDispatcher(this.parts, env, () => this.settle());
    this.parts.relays.resume();
    // Keepalive pings are answered by the runtime without waking a hibernated object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  // ── RPC: lifecycle and membership ────────────────────────────────────────────

  /** Creates the conversation; creating an existing direct conversation returns it. */
  async create(init: CreateInit): Promise<Result<ConversationInfo>> {
    const created = this.parts.membership.create(init);
    if (created.ok) await this.parts.delivery.kick();
    return created;
  }

  async info(reader: Reader): Promise<Result<ConversationInfo>> {
    return this.as(reader, () => {
      admit(this.parts.store, this.parts.standings, reader);
      return this.parts.membership.describe();
    });
  }

  /** A page of members in join order (protocol MembersQuery: `after` already validated). */
  async members(reader: Reader, query: { after?: string | undefined; limit?: number | undefined }): Promise<Result<MembersPage>> {
    const { store } = this.parts;
    return this.as(reader, () => {
      admit(store, this.parts.standings, reader);
      const page = memberPage(store, query.after ? decodePosition(query.after) : null, query.limit ?? LIMITS.maxListedMembers);
      return { members: page.members, next: page.next && encodePosition(page.next), memberCount: memberCount(store) };
    });
  }

  async addMember(actor: Reader, userId: string, role: Role, trace: Trace = {}): Promise<Result<ConversationInfo>> {
    return withRequestId(trace.rid, async () => {
      const standing = await attemptAsync(() => this.parts.standings.require(actor));
      if (!standing.ok) return standing;
      const added = await this.parts.membership.add(actor, userId, role);
      if (added.ok) await this.parts.delivery.kick();
      return added;
    });
  }

  /** Removes a member, or lets a member leave (actor === userId). Their windows close and their held reads end at once. */
  async removeMember(actor: Reader, userId: string, trace: Trace = {}): Promise<Result<{ seq: number }>> {
    return withRequestId(trace.rid, async () => {
      const result = await this.as(actor, () => this.parts.membership.remove(actor, userId));
      if (!result.ok) return result;
      this.parts.windows.flush();
      this.parts.windows.closeUser(userId, result.value);
      this.parts.relays.closeUser(userId);
      this.parts.feed.wake();
      await this.parts.delivery.kick();
      return ok({ seq: result.value.seq });
    });
  }

  async setRole(actor: Reader, userId: string, role: Exclude<Role, 'owner'>, trace: Trace = {}): Promise<Result<Member>> {
    return withRequestId(trace.rid, async () => {
      const result = await this.as(actor, () => this.parts.membership.setRole(actor, userId, role));
      if (result.ok) await this.parts.delivery.kick();
      return result;
    });
  }

  /**
   * `userId`'s block list as their UserDO holds it now (called when it changes, and when
   * the user joins). From the next frame on, what the users they block write reaches them
   * hidden (./visibility.ts), and in a direct conversation the blocked user cannot write.
   */
  async setBlocks(userId: string, blockedIds: string[]): Promise<void> {
    blocks.replace(this.parts.store, userId, blockedIds);
  }

  /** A device was signed out: its windows close, its held feed reads end, and it may do nothing more here. */
  async closeDevice(userId: string, deviceId: string): Promise<number> {
    this.parts.standings.revoke(userId, deviceId);
    this.parts.feed.wakeDevice(deviceId);
    this.parts.relays.closeDevice(userId, deviceId);
    return this.parts.windows.closeDevice(userId, deviceId);
  }

  /**
   * `userId`'s device list with keys changed to `version` (from their UserDO's outbox, at
   * least once): an encrypted conversation logs `devices_changed` and delivers it; true if
   * it did (./devices-changed.ts).
   */
  async noteDevicesChanged(userId: string, deviceId: string, version: number): Promise<boolean> {
    const event = noteDevicesChanged(this.parts, userId, deviceId, version, Date.now());
    if (event) await this.parts.delivery.kick();
    return event !== null;
  }

  /** The user's tier may have changed (reports, an operator): their devices' standing is asked for again. */
  async standingChanged(userId: string): Promise<void> {
    this.parts.standings.forgetUser(userId);
  }

  // ── RPC: messages and history ────────────────────────────────────────────────

  /**
   * Sends a message (the HTTP path; windows send the same way, and both join the same group
   * commit). The fan-out pass this send starts carries its request id to the UserDOs.
   */
  async send(reader: Reader, request: SendRequest, trace: Trace = {}): Promise<Result<Ack>> {
    return withRequestId(trace.rid, async () => {
      const grouped = this.parts.groupCommit.join();
      if (grouped) await grouped;
      const result = await this.parts.sender.send(reader, request);
      if (result.ok && !result.value.duplicate) void this.parts.delivery.kick();
      return result;
    });
  }

  /** For the UserDO settling an expired lease: what `userId` really sent here within `windowMs`. */
  async sendReport(userId: string, windowMs: number): Promise<SentReport> {
    return this.parts.sender.sentReport(userId, windowMs);
  }

  async history(reader: Reader, query: HistoryQuery): Promise<Result<HistoryPage>> {
    return this.as(reader, () => {
      admit(this.parts.store, this.parts.standings, reader);
      return historyPage(this.parts.store, query, reader);
    });
  }

  /**
   * `history` as the page's JSON text, for the HTTP route to answer with as it is: a page
   * is encoded once, here, rather than cloned across the call and encoded again by the
   * Worker (most of the Worker's share of a page of 100), and its plain messages are
   * spliced from their stored text (./visibility.ts `pageJsonFor`).
   */
  async historyJson(reader: Reader, query: HistoryQuery): Promise<Result<string>> {
    return this.as(reader, () => {
      admit(this.parts.store, this.parts.standings, reader);
      return historyPageJson(this.parts.store, query, reader);
    });
  }

  /**
   * The feed for clients without WebSockets (SSE and long polling; ./history.ts). With
   * `typing` (the token of who is typing the reader last saw) a held read also answers
   * when that changes.
   */
  async feed(reader: Reader, after: number | null, timeoutMs: number, typing?: string): Promise<Result<FeedPage>> {
    return this.parts.feed.read(reader, after, timeoutMs, typing);
  }

  /** The socket's `typing` frame over HTTP, for a client on a fallback wire: the same checks and limits (./typing.ts). */
  async typing(reader: Reader, state: 'start' | 'stop'): Promise<Result<void>> {
    const tier = await attemptAsync(() => this.parts.standings.require(reader));
    if (!tier.ok) return tier;
    return attempt(() => {
      admit(this.parts.store, this.parts.standings, reader);
      this.parts.typing.update(reader, state, tier.value, null);
    });
  }

  // ── RPC: edits, deletes, reactions, receipts ─────────────────────────────────

  async edit(reader: Reader, targetSeq: number, content: MessageContent, trace: Trace = {}): Promise<Result<{ seq: number | null }>> {
    return withRequestId(trace.rid, () => this.as(reader, () => ({ seq: this.parts.writes.edit(reader, targetSeq, content) })));
  }

  async deleteMessage(reader: Reader, targetSeq: number, scope: DeleteScopeRequest, trace: Trace = {}): Promise<Result<{ seq: number | null }>> {
    return withRequestId(trace.rid, async () => {
      const result = await this.as(reader, () => ({ seq: this.parts.writes.remove(reader, targetSeq, scope) }));
      if (result.ok) await this.settle();
      return result;
    });
  }

  async react(reader: Reader, targetSeq: number, emoji: string, op: 'add' | 'remove', trace: Trace = {}): Promise<Result<{ seq: number | null }>> {
    return withRequestId(trace.rid, () => this.as(reader, () => ({ seq: this.parts.writes.react(reader, targetSeq, emoji, op) })));
  }

  async versions(reader: Reader, seq: number): Promise<Result<ReturnType<typeof lifecycle.versions>>> {
    return this.as(reader, () => {
      const all = lifecycle.versions(this.parts.store.sql, seq, requireMeta(this.parts.store).kind, admit(this.parts.store, this.parts.standings, reader).role);
      return { ...all, versions: all.versions.map((v) => ({ ...v, content: contentForDevice(v.content, reader) })) };
    });
  }

  async markRead(reader: Reader, seq: number): Promise<Result<receipts.OwnReceipts>> {
    const result = await this.as(reader, () => this.parts.writes.read(reader, seq));
    if (result.ok) await this.settle();
    return result;
  }

  /** One of the user's devices received events up to `seq` (from their UserDO). */
  async markDelivered(userId: string, seq: number): Promise<Result<receipts.OwnReceipts>> {
    const { store } = this.parts;
    const result = attempt(() => {
      if (!member(store, userId)) throw new AppError('conversation_not_found', 'No such conversation, or you are not a member.');
      return receipts.markDelivered(store, userId, seq, eventLog.lastSeq(store), Date.now());
    });
    if (!result.ok) return result;
    if (result.value.visibleMoved) await this.parts.wakeups.schedule();
    return ok(result.value.own);
  }

  async receipts(reader: Reader): Promise<Result<ReceiptsOverview>> {
    const { store } = this.parts;
    return this.as(reader, () => {
      admit(store, this.parts.standings, reader);
      return { conversationId: requireMeta(store).id, lastSeq: eventLog.lastSeq(store), watermarks: receipts.overview(store.sql, memberPage(store, null, LIMITS.maxListedMembers).members, reader.userId) };
    });
  }

  async receiptDetail(reader: Reader, seq: number): Promise<Result<ReceiptDetail>> {
    const { store } = this.parts;
    return this.as(reader, () => {
      admit(store, this.parts.standings, reader);
      return receipts.detail(store.sql, lifecycle.messageInfo(store.sql, seq));
    });
  }

  async setPrivateReads(reader: Reader, on: boolean): Promise<Result<{ privateReads: boolean }>> {
    return this.as(reader, () => {
      admit(this.parts.store, this.parts.standings, reader);
      return { privateReads: receipts.setPrivateReads(this.parts.store.sql, reader.userId, on).privateReads };
    });
  }

  // ── RPC: search, inbox, moderation, presence ─────────────────────────────────

  async search(reader: Reader, query: string, options: { before?: number | undefined; limit?: number | undefined }): Promise<Result<SearchPage>> {
    const { store } = this.parts;
    return this.as(reader, () => {
      admit(store, this.parts.standings, reader);
      search.assertSearchable(store.sql);
      this.parts.delivery.indexAll();
      const hits = search.find(store.sql, query, reader.userId, options);
      const found = lifecycle.messagesAt(store.sql, hits.seqs, reader.userId).filter((m) => !blocks.has(store, reader.userId, m.author.userId));
      // Never an envelope here (an encrypted conversation is not searchable), but through the one rule all the same.
      const results = messagesForDevice(found, reader);
      return { conversationId: requireMeta(store).id, results, nextBefore: hits.nextBefore };
    });
  }

  /**
   * The conversation as one member's inbox shows it, for conversations that fan out on
   * read (their members' UserDOs hold only hints): last seq, preview, unread count.
   */
  async inboxState(userId: string, readSeq: number): Promise<Result<{ lastSeq: number; lastActivityAt: number; preview: MessagePreview | null; unreadCount: number }>> {
    const { store } = this.parts;
    return attempt(() => {
      if (!member(store, userId)) throw new AppError('conversation_not_found', 'No such conversation, or you are not a member.');
      const blocked = blocks.blockedBy(store, userId);
      const state = eventLog.inboxState(store.sql, userId, readSeq, INBOX.maxUnreadCount, blocked);
      const preview = lifecycle.lastPreview(store.sql, userId, INBOX.maxPreviewLength, blocked);
      return { lastSeq: state.lastSeq, lastActivityAt: state.lastTs ?? requireMeta(store).createdAt, preview, unreadCount: state.unreadCount };
    });
  }

  /** What a moderator sees of a reported message: its content, unless the conversation is end-to-end encrypted. */
  async reportedMessage(reporterId: string, seq: number): Promise<Result<{ authorId: string; kind: ConversationKind; content: MessageContent | null }>> {
    const { store } = this.parts;
    return attempt(() => {
      const meta = requireMeta(store);
      if (!member(store, reporterId)) throw new AppError('conversation_not_found', 'No such conversation, or you are not a member.');
      const event = eventLog.eventAt(store.sql, seq);
      if (!event || event.type !== 'message') throw new AppError('not_found', 'No message has that seq.');
      const current = lifecycle.messagesAt(store.sql, [seq], reporterId)[0];
      const content = meta.encrypted ? null : (current?.content ?? null);
      return { authorId: event.author.userId, kind: meta.kind, content };
    });
  }

  /** Relays a member's presence change to the open windows; false when none is open (unsubscribe). */
  async relayPresence(presence: Presence): Promise<boolean> {
    return this.parts.windows.relayPresence(presence);
  }

  // ── RPC: relays (./relays.ts, src/relay/RelayDO.ts) ──────────────────────────

  /**
   * A relay asks before it accepts a socket the worker sent it: the same admission as a
   * window here, for one of this conversation's relays. The relay accepts in the turn it
   * gets the answer; `lastSeq` is where a relay with no readers yet starts.
   */
  async relayAdmit(identity: SocketIdentity, relay: number): Promise<Result<{ conversationId: string; lastSeq: number }>> {
    const admitted = await this.parts.windows.admitSocket(identity);
    if (!admitted.ok) return admitted;
    if (!this.parts.relays.has(relay)) return fail('conversation_not_found', 'No such conversation, or you are not a member.');
    return ok({ conversationId: requireMeta(this.parts.store).id, lastSeq: eventLog.lastSeq(this.parts.store) });
  }

  /** The events after `after` for a relay that missed some (evicted, a failed call). */
  async relayPage(after: number): Promise<RelayPage> {
    return this.parts.relays.page(after);
  }

  /** Of a relay's readers, those who may no longer read here and why (after a notice to it may have been lost). */
  async relayCheck(readers: Reader[]): Promise<RelayRefusal[]> {
    const { store, standings } = this.parts;
    const standing = await Promise.all(readers.map((reader) => standings.fetch(reader)));
    return readers.flatMap((reader, i): RelayRefusal[] => {
      if (!member(store, reader.userId)) return [{ ...reader, code: 'conversation_not_found' }];
      return !standing[i]!.active || standings.isRevoked(reader.deviceId) ? [{ ...reader, code: 'device_revoked' }] : [];
    });
  }

  // ── RPC: media (logic in ./media.ts) ──────────────────────────────────────────

  /**
   * Records a finished upload so messages may refer to it; the uploader must still be a
   * member. (Called when the signed upload completes, which carries no device: the grant
   * was checked against the device when it was issued.)
   */
  async registerMedia(uploaderId: string, info: MediaInfo): Promise<Result<void>> {
    const { store } = this.parts;
    return attempt(() => {
      if (!member(store, uploaderId)) throw new AppError('conversation_not_found', 'No such conversation, or you are not a member.');
      media.register(store.sql, uploaderId, info, Date.now());
    });
  }

  /** Whether `reader` may download `mediaId` now: admitted here, the item shared here (or theirs), its uploader not blocked by them. */
  async mediaAccess(reader: Reader, mediaId: string): Promise<boolean> {
    const allowed = await this.as(reader, () => {
      const { store } = this.parts;
      admit(store, this.parts.standings, reader);
      // Never from a user the reader blocks, whose messages (which alone can share an item:
      // only its uploader may refer to it) they see hidden, history included.
      const item = media.canRead(store.sql, reader.userId, mediaId);
      return item !== null && hearsFrom(store, reader.userId, item.uploaderId);
    });
    return allowed.ok && allowed.value;
  }

  /** For the orphan sweep: tombstones the unreferenced items among `mediaIds`. */
  async claimOrphanedMedia(mediaIds: string[]): Promise<{ orphaned: string[]; referenced: string[] }> {
    return media.claimOrphans(this.parts.store.sql, mediaIds, Date.now());
  }

  // ── Runtime hooks ────────────────────────────────────────────────────────────

  /** Accepts a chat-window socket the worker has authenticated (./windows.ts). */
  override async fetch(request: Request): Promise<Response> {
    const identity = upgradeIdentity(request);
    if (!identity) return new Response('Expected an authenticated WebSocket upgrade.', { status: 426 });
    return withRequestId(request.headers.get(REQUEST_ID_HEADER) ?? undefined, () => this.parts.windows.open(identity, (reader) => this.parts.relays.assign(reader)));
  }

  /** Each frame is a request of its own: an id for its log lines and the fan-out it starts. */
  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    return withRequestId(crypto.randomUUID(), () => this.frames.receive(ws, message));
  }

  // Open windows are counted +1 on accept (./windows.ts) and -1 when the runtime reports
  // the close (src/metrics.ts): approximate, as a socket dropped without a close is not seen.
  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    record(this.env, { kind: 'socket', wire: 'chat_ws', delta: -1 });
    const reader = this.parts.windows.attachmentOf(ws);
    if (reader) this.parts.typing.forget(reader, ws);
    answerClose(ws, code, reason);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    record(this.env, { kind: 'socket', wire: 'chat_ws', delta: -1 });
    closeQuietly(ws, CLOSE_CODES.serverError, 'Socket error.');
  }

  /** One alarm serves every deadline (./wake.ts). */
  override async alarm(): Promise<void> {
    const { store, windows, delivery, wakeups } = this.parts;
    wakeups.clock.fired();
    this.flushReceipts();
    lifecycle.purgeDue(store, Date.now());
    await delivery.kick();
    delivery.persistWatermark();
    if (windows.count > 0) await windows.renewPresence();
    await this.parts.relays.retryDue();
    await wakeups.schedule();
  }

  // ── Internals ────────────────────────────────────────────────────────────────

  /** Runs `fn` for a device once its standing is known (awaited only when it is not), as a Result. */
  private async as<T>(reader: Reader, fn: () => T): Promise<Result<T>> {
    if (!this.parts.standings.current(reader)) {
      const standing = await attemptAsync(() => this.parts.standings.require(reader));
      if (!standing.ok) return standing;
    }
    return attempt(fn);
  }

  /** After a change that queued user updates or set a deadline: deliver, and set the alarm. */
  private async settle(): Promise<void> {
    await this.parts.delivery.kick();
    await this.parts.wakeups.schedule();
  }

  /** Pushes the watermarks that moved, once the coalescing interval since the first change has passed. */
  private flushReceipts(): void {
    const { store, windows } = this.parts;
    const due = receipts.flushDue(store);
    if (due === null || due > Date.now()) return;
    const watermarks = receipts.takeChanged(store);
    const meta = loadMeta(store);
    if (meta && watermarks.length > 0) windows.sendAll({ type: 'receipts', conversationId: meta.id, watermarks });
  }
}
