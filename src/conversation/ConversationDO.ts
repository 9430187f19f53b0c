/**
 * @module conversation/ConversationDO
 * One object per conversation: its single writer. Owns membership and roles, the event
 * log with its gap-free seq, the durable outbox to members' UserDOs, and the hibernatable
 * "chat window" sockets of clients that have this conversation open.
 *
 * Receipts, typing, message lifecycle and search live in their own modules (receipts,
 * typing, lifecycle, search); this class only dispatches to them and broadcasts.
 *
 * The worker authenticates and validates, then calls the RPC methods below (or forwards
 * a WebSocket upgrade to `fetch`). Methods return a `Result` rather than throwing,
 * because an error's class does not survive RPC.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env, Identity } from '../env.js';
import { AppError, attempt, fail, ok, type Result } from '../errors.js';
import { migrate } from '../storage/migrate.js';
import {
  CLIENT_FRAME_TYPES,
  LIMITS,
  CLOSE_CODES,
  ClientFrame,
  FEED,
  INBOX,
  PRESENCE,
  PING_FRAME,
  PONG_FRAME,
  TYPING,
  parseFrame,
  type Ack,
  type ConversationEvent,
  type ConversationInfo,
  type ConversationKind,
  type DeleteScopeRequest,
  type HistoryPage,
  type HistoryQuery,
  type MediaInfo,
  type Member,
  type MessageContent,
  type MessagePreview,
  type Presence,
  type ReceiptDetail,
  type ReceiptsOverview,
  type Role,
  type SearchPage,
  type ServerFrame,
  mediaIdsOf,
} from '../protocol/index.js';
import { CONVERSATION_MIGRATIONS } from './schema.js';
import * as log from './log.js';
import * as members from './members.js';
import * as outbox from './outbox.js';
import * as media from './media.js';
import { deleteMediaOf } from '../media/cleanup.js';
import * as receipts from './receipts.js';
import * as lifecycle from './lifecycle.js';
import * as search from './search.js';
import { TypingTracker } from './typing.js';
import * as fanout from './fanout.js';
import { EventBatcher, intervalMs } from './batcher.js';
import { FeedWaiters } from './feed.js';
import { GroupCommit } from './group-commit.js';
import type { UserUpdate } from '../user/updates.js';
import { answerClose, closeQuietly, errorFrame, rejectSocket, sendFrame, sendText, upgradeIdentity } from '../objects/sockets.js';
import { TIER_LIMITS, messageRules, type Tier } from '../ratelimit/rules.js';
import { SendAllowance, SenderWindows, report, type SentReport } from './allowance.js';
import * as blocks from './blocks.js';
import { assertAcceptable, filterConfig, filterableText, isRepeatCandidate, textHash, type FilterConfig } from '../moderation/filter.js';
import { WindowCounter } from '../ratelimit/window-counter.js';

export interface CreateInit {
  id: string;
  kind: ConversationKind;
  title: string | null;
  creator: Identity;
  /** Members besides the creator (already checked to exist). */
  memberIds: string[];
}

interface Meta {
  id: string;
  kind: ConversationKind;
  title: string | null;
  createdAt: number;
  /** End-to-end encrypted: the server never inspects content (no filter, no search). */
  encrypted: boolean;
}

/** Kept in each socket's attachment, so it survives hibernation. */
export interface SocketAttachment {
  userId: string;
  deviceId: string;
  /** The rate-limit tier at ticket redemption (the socket has no access token to read it from). */
  tier: Tier;
  /** Users this user blocked when the window opened: their typing and presence are not shown here. */
  blocked: string[];
}

/** A socket's send needs a new lease first; thrown by `accept`, caught by its callers. */
class NeedsLease extends Error {}

const userTag = (userId: string) => `user:${userId}`;

export class ConversationDO extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private meta: Meta | null = null;
  private draining: Promise<void> | null = null;
  /** In memory only: typing is never stored. */
  private readonly typing = new TypingTracker((userId, deviceId) => this.broadcastTyping(userId, deviceId, 'stop', null));
  /** The alarm this instance set, if any (memory only: after an eviction it is set again). */
  private alarmAt: number | null = null;
  /** Until when members' UserDOs send presence changes here (renewed while windows are open). */
  private presenceUntil = 0;
  /**
   * Members by user id, read once and dropped whenever membership changes (only this
   * object writes it), so the send path checks membership without SQL.
   */
  private memberCache: Map<string, Member> | null = null;
  private readonly batcher = new EventBatcher((events) => this.writeAll({ type: 'events', conversationId: this.requireMeta().id, events }));
  /** Per-user send allowance leased from UserDOs (memory only: see ./allowance.ts). */
  private readonly allowance = new SendAllowance();
  /** The per-conversation message limit's windows (memory only: see ./allowance.ts). */
  private readonly senderWindows: SenderWindows;
  /** Leases being fetched, per user, so concurrent sends share one request. */
  private readonly leasing = new Map<string, Promise<void>>();
  /** The content filter, built from the environment once per instance. */
  private contentFilter: FilterConfig | null = null;
  /** Attachments already read (see `attachmentOf`). */
  private readonly attachments = new WeakMap<WebSocket, SocketAttachment>();
  /** Each socket's frames are handled one after another, so an awaited lease keeps their order. */
  private readonly socketQueues = new Map<WebSocket, Promise<void>>();
  /** Read-receipt updates per device (memory only: an eviction forgets, which only lets a few more through). */
  private readonly receiptWindows = new WindowCounter();
  /** Feed requests waiting for the next event (see `feed`). */
  private readonly feedWaiters = new FeedWaiters(FEED.maxWaiting);
  /** Under load, frames arriving together are handled in one turn, so their writes share one commit (./group-commit.ts). */
  private readonly groupCommit = new GroupCommit();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.senderWindows = new SenderWindows(this.sql);
    migrate(ctx.storage, CONVERSATION_MIGRATIONS);
    // Keepalive pings are answered by the runtime without waking a hibernated object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  // ── RPC: lifecycle and membership ────────────────────────────────────────────

  /** Creates the conversation; creating an existing direct conversation returns it. */
  async create(init: CreateInit): Promise<Result<ConversationInfo>> {
    const existing = this.loadMeta();
    if (existing) {
      if (existing.kind === 'direct' && init.kind === 'direct' && this.member(init.creator.userId)) {
        return ok(this.describe());
      }
      return fail('conflict', 'This conversation already exists.');
    }
    const now = Date.now();
    const memberRole: Role = 'member';
    const creatorRole: Role = init.kind === 'group' ? 'owner' : 'member';
    const all = [init.creator.userId, ...init.memberIds.filter((id) => id !== init.creator.userId)];
    this.transaction(() => {
      const rows: [string, string][] = [
        ['id', init.id],
        ['kind', init.kind],
        ['created_at', String(now)],
      ];
      if (init.title !== null) rows.push(['title', init.title]);
      for (const [key, value] of rows) this.sql.exec('INSERT INTO meta (key, value) VALUES (?, ?)', key, value);
      all.forEach((userId, i) => members.putMember(this.sql, { userId, role: i === 0 ? creatorRole : memberRole, joinedAt: now }));
      this.meta = null;
      this.memberCache = null;
      for (const userId of all) {
        const role = userId === init.creator.userId ? creatorRole : memberRole;
        outbox.enqueue(this.sql, userId, this.membershipUpdate(userId, role, 0, now, all), now);
      }
    });
    await this.deliverOutbox();
    return ok(this.describe());
  }

  async info(userId: string): Promise<Result<ConversationInfo>> {
    return attempt(() => {
      this.requireMember(userId);
      return this.describe();
    });
  }

  async addMember(actor: Identity, userId: string, role: Role): Promise<Result<ConversationInfo>> {
    const result = attempt(() => {
      const meta = this.requireMeta();
      members.assertCanAdd(meta.kind, this.requireMember(actor.userId));
      if (this.member(userId)) throw new AppError('conflict', 'That user is already a member.');
      if (this.memberMap().size >= LIMITS.maxGroupMembers) {
        throw new AppError('forbidden', `Groups are limited to ${LIMITS.maxGroupMembers} members.`);
      }
      return this.changeMembership(actor, { type: 'member_added', userId, role }, () =>
        members.putMember(this.sql, { userId, role, joinedAt: Date.now() }),
      );
    });
    if (!result.ok) return result;
    await this.deliverOutbox();
    return ok(this.describe());
  }

  /** Removes a member, or lets a member leave (actor === userId). */
  async removeMember(actor: Identity, userId: string): Promise<Result<{ seq: number }>> {
    const result = attempt(() => {
      const meta = this.requireMeta();
      const actorMember = this.requireMember(actor.userId);
      const target = this.member(userId);
      if (!target) throw new AppError('not_found', 'That user is not a member.');
      members.assertCanRemove(meta.kind, actorMember, target);
      const heir = target.role === 'owner' ? members.successor(members.listMembers(this.sql), userId) : null;
      const event = this.changeMembership(actor, { type: 'member_removed', userId }, () => members.deleteMember(this.sql, userId));
      if (heir) {
        this.changeMembership(actor, { type: 'role_changed', userId: heir.userId, role: 'owner' }, () =>
          members.putMember(this.sql, { ...heir, role: 'owner' }),
        );
      }
      return event;
    });
    if (!result.ok) return result;
    this.batcher.flush();
    for (const ws of this.ctx.getWebSockets(userTag(userId))) {
      ws.close(CLOSE_CODES.forbidden, 'You are no longer a member of this conversation.');
    }
    await this.deliverOutbox();
    return ok({ seq: result.value.seq });
  }

  async setRole(actor: Identity, userId: string, role: Exclude<Role, 'owner'>): Promise<Result<Member>> {
    const result = attempt(() => {
      const meta = this.requireMeta();
      const target = this.member(userId);
      if (!target) throw new AppError('not_found', 'That user is not a member.');
      members.assertCanSetRole(meta.kind, this.requireMember(actor.userId), target);
      const updated = { ...target, role };
      this.changeMembership(actor, { type: 'role_changed', userId, role }, () => members.putMember(this.sql, updated));
      return updated;
    });
    if (result.ok) await this.deliverOutbox();
    return result;
  }

  // ── RPC: messages and history ────────────────────────────────────────────────

  /** Sends a message (the HTTP path; sockets use the same `accept`, and the same group commit). */
  async send(identity: Identity, cmid: string, content: MessageContent, replyToSeq: number | undefined, tier: Tier): Promise<Result<Ack>> {
    const grouped = this.groupCommit.join(Date.now());
    if (grouped) await grouped;
    const result = await this.acceptWithLease(identity, tier, cmid, content, replyToSeq);
    if (result.ok && !result.value.duplicate) void this.deliverOutbox();
    return result;
  }

  /**
   * For the UserDO settling an expired lease: what `userId` really sent here within
   * `windowMs` (and their recent texts, unless this conversation is end-to-end encrypted).
   */
  async sendReport(userId: string, windowMs: number): Promise<SentReport> {
    return report(this.sql, userId, Date.now(), windowMs, this.filter());
  }

  /**
   * `userId`'s block list as their UserDO holds it now (called when it changes, and when
   * the user joins a conversation). This conversation then refuses their blocked users'
   * writes where the rule says so and renders those users' events hidden for them.
   */
  async setBlocks(userId: string, blockedIds: string[]): Promise<void> {
    blocks.replace(this.sql, userId, blockedIds);
    for (const ws of this.ctx.getWebSockets(userTag(userId))) {
      const attachment = this.attachmentOf(ws);
      if (attachment) this.attach(ws, { ...attachment, blocked: blockedIds });
    }
  }

  /** A device was signed out: its chat windows here close at once. */
  async closeDevice(userId: string, deviceId: string): Promise<number> {
    let closed = 0;
    for (const ws of this.ctx.getWebSockets(userTag(userId))) {
      if (this.attachmentOf(ws)?.deviceId !== deviceId) continue;
      closeQuietly(ws, CLOSE_CODES.deviceRevoked, 'This device has been signed out.');
      closed++;
    }
    return closed;
  }

  /** What a moderator sees of a reported message: its content, unless the conversation is end-to-end encrypted. */
  async reportedMessage(reporterId: string, seq: number): Promise<Result<{ authorId: string; kind: ConversationKind; content: MessageContent | null }>> {
    return attempt(() => {
      this.requireMember(reporterId);
      const event = log.eventAt(this.sql, seq);
      if (!event || event.type !== 'message') throw new AppError('not_found', 'No message has that seq.');
      const current = lifecycle.messagesAt(this.sql, [seq], reporterId)[0];
      const meta = this.requireMeta();
      const content = meta.encrypted ? null : (current?.type === 'message' ? (current.content ?? null) : null);
      return { authorId: event.author.userId, kind: meta.kind, content };
    });
  }

  /**
   * The conversation as one member's inbox shows it, for conversations that fan out on
   * read (their members' UserDOs hold only hints): last seq, preview, unread count.
   */
  async inboxState(userId: string, readSeq: number): Promise<Result<{ lastSeq: number; lastActivityAt: number; preview: MessagePreview | null; unreadCount: number }>> {
    return attempt(() => {
      this.requireMember(userId);
      const state = log.inboxState(this.sql, userId, readSeq, INBOX.maxUnreadCount, INBOX.maxPreviewLength);
      return { lastSeq: state.lastSeq, lastActivityAt: state.lastTs ?? this.requireMeta().createdAt, preview: state.preview, unreadCount: state.unreadCount };
    });
  }

  /** Relays a member's presence change to the open windows; false when none is open (unsubscribe). */
  async relayPresence(presence: Presence): Promise<boolean> {
    const windows = this.ctx.getWebSockets();
    if (windows.length === 0) return false;
    this.batcher.flush();
    const text = JSON.stringify({ type: 'presence', ...presence } satisfies ServerFrame);
    for (const ws of windows) if (!this.hides(ws, presence.userId)) sendText(ws, text);
    return true;
  }

  async history(userId: string, query: HistoryQuery): Promise<Result<HistoryPage>> {
    return attempt(() => {
      this.requireMember(userId);
      return this.historyPage(query, userId);
    });
  }

  /**
   * The conversation's feed for clients without WebSockets (SSE and long polling, served
   * by the Worker from this call): the events after `after` as `userId` sees them, at
   * once when there are any, else once the next event is accepted or `timeoutMs` passes.
   * `after` null asks only for what comes next.
   */
  async feed(userId: string, after: number | null, timeoutMs: number): Promise<Result<HistoryPage>> {
    const read = (from: number) =>
      attempt(() => {
        this.requireMember(userId);
        return this.historyPage({ after: from, limit: FEED.pageSize }, userId);
      });
    const from = after ?? log.lastSeq(this.sql);
    const deadline = Date.now() + Math.min(timeoutMs, FEED.longPollMs);
    for (let page = read(from); ; page = read(from)) {
      // An event this reader does not see (or one not yet past `after`) keeps it waiting.
      const left = deadline - Date.now();
      if (!page.ok || page.value.events.length > 0 || left <= 0) return page;
      const waiting = this.feedWaiters.wait(left);
      if (!waiting) return fail('rate_limited', 'Too many clients are following this conversation; try again shortly.', { retryAfterMs: 1_000 });
      await waiting;
    }
  }

  // ── RPC: receipts ────────────────────────────────────────────────────────────

  /** One of the user's devices received events up to `seq` (called by the per-user fan-out). */
  async markDelivered(userId: string, seq: number): Promise<Result<receipts.OwnReceipts>> {
    const result = attempt(() => {
      this.requireMember(userId);
      return receipts.markDelivered(this.sql, userId, seq, log.lastSeq(this.sql), Date.now());
    });
    if (!result.ok) return result;
    if (result.value.visibleMoved) await this.scheduleWake();
    return ok(result.value.own);
  }

  async markRead(identity: Identity, seq: number, tier: Tier): Promise<Result<receipts.OwnReceipts>> {
    const result = attempt(() => this.read(identity, seq, tier));
    if (result.ok) await this.settle();
    return result;
  }

  async receipts(userId: string): Promise<Result<ReceiptsOverview>> {
    return attempt(() => {
      this.requireMember(userId);
      const watermarks = receipts.overview(this.sql, members.listMembers(this.sql), userId);
      return { conversationId: this.requireMeta().id, lastSeq: log.lastSeq(this.sql), watermarks };
    });
  }

  async receiptDetail(userId: string, seq: number): Promise<Result<ReceiptDetail>> {
    return attempt(() => {
      this.requireMember(userId);
      return receipts.detail(this.sql, members.listMembers(this.sql), lifecycle.messageInfo(this.sql, seq));
    });
  }

  async setPrivateReads(userId: string, on: boolean): Promise<Result<{ privateReads: boolean }>> {
    return attempt(() => {
      this.requireMember(userId);
      return { privateReads: receipts.setPrivateReads(this.sql, userId, on).privateReads };
    });
  }

  // ── RPC: edits, deletes, reactions, search ───────────────────────────────────

  async edit(identity: Identity, targetSeq: number, content: MessageContent): Promise<Result<{ seq: number | null }>> {
    return attempt(() => ({ seq: this.editMessage(identity, targetSeq, content) }));
  }

  async deleteMessage(identity: Identity, targetSeq: number, scope: DeleteScopeRequest): Promise<Result<{ seq: number | null }>> {
    const result = attempt(() => ({ seq: this.removeMessage(identity, targetSeq, scope) }));
    if (result.ok) await this.settle();
    return result;
  }

  async react(identity: Identity, targetSeq: number, emoji: string, op: 'add' | 'remove'): Promise<Result<{ seq: number | null }>> {
    return attempt(() => ({ seq: this.reactTo(identity, targetSeq, emoji, op) }));
  }

  async versions(userId: string, seq: number): Promise<Result<ReturnType<typeof lifecycle.versions>>> {
    return attempt(() => lifecycle.versions(this.sql, seq, this.requireMeta().kind, this.requireMember(userId).role));
  }

  async search(userId: string, query: string, options: { before?: number | undefined; limit?: number | undefined }): Promise<Result<SearchPage>> {
    return attempt(() => {
      this.requireMember(userId);
      search.assertSearchable(this.sql);
      this.indexMessages();
      const hits = search.find(this.sql, query, userId, options);
      return { conversationId: this.requireMeta().id, results: lifecycle.messagesAt(this.sql, hits.seqs, userId), nextBefore: hits.nextBefore };
    });
  }

  // ── RPC: media (logic in ./media.ts) ──────────────────────────────────────────

  /** Records a finished upload so messages may refer to it; the uploader must still be a member. */
  async registerMedia(uploaderId: string, info: MediaInfo): Promise<Result<void>> {
    return attempt(() => {
      this.requireMember(uploaderId);
      media.register(this.sql, uploaderId, info, Date.now());
    });
  }

  /** Whether `userId` may download `mediaId` now: a member, and the item shared here (or theirs). */
  async mediaAccess(userId: string, mediaId: string): Promise<boolean> {
    return !!this.loadMeta() && !!this.member(userId) && media.canRead(this.sql, userId, mediaId);
  }

  /** For the orphan sweep: tombstones the unreferenced items among `mediaIds`. */
  async claimOrphanedMedia(mediaIds: string[]): Promise<{ orphaned: string[]; referenced: string[] }> {
    return media.claimOrphans(this.sql, mediaIds, Date.now());
  }

  // ── WebSockets ───────────────────────────────────────────────────────────────

  /** Accepts a chat-window socket the worker has authenticated. */
  override async fetch(request: Request): Promise<Response> {
    const identity = upgradeIdentity(request);
    if (!identity) return new Response('Expected an authenticated WebSocket upgrade.', { status: 426 });
    const { userId, deviceId } = identity;
    const meta = this.loadMeta();
    if (!meta || !this.member(userId)) {
      return rejectSocket({ code: 'conversation_not_found', message: 'No such conversation, or you are not a member.' }, CLOSE_CODES.forbidden);
    }
    const blocked = await this.env.USERS.getByName(userId).blockedIds();
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, [userTag(userId)]);
    this.attach(server, { userId, deviceId, tier: identity.tier, blocked });
    // Events waiting to be batched go out first: `ready` says how far this socket is.
    this.batcher.flush();
    sendFrame(server, { type: 'ready', conversationId: meta.id, userId, deviceId, lastSeq: log.lastSeq(this.sql) });
    void this.renewPresenceSubscription();
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const previous = this.socketQueues.get(ws) ?? Promise.resolve();
    // Under load a frame also waits for its group's turn (./group-commit.ts); frames join
    // in arrival order and are released in it, so each socket's order holds.
    const grouped = this.groupCommit.join(Date.now());
    const handled = (grouped ? Promise.all([previous, grouped]) : previous).then(() => this.handleFrame(ws, message));
    const settled = handled.catch(() => undefined);
    this.socketQueues.set(ws, settled);
    void settled.then(() => {
      if (this.socketQueues.get(ws) === settled) this.socketQueues.delete(ws);
    });
    return handled;
  }

  private async handleFrame(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (typeof message !== 'string') {
      sendFrame(ws, errorFrame({ code: 'invalid_request', message: 'Binary frames are not supported; send JSON text.' }));
      return;
    }
    const parsed = parseFrame(message, ClientFrame, CLIENT_FRAME_TYPES);
    if (!parsed.ok) {
      sendFrame(ws, errorFrame(parsed.error, parsed));
      return;
    }
    const frame = parsed.frame;
    const attachment = this.attachmentOf(ws)!;
    // Only who and which device: the rest of the attachment (tier, blocks) must never be stored as an author.
    const identity: Identity = { userId: attachment.userId, deviceId: attachment.deviceId };
    const { tier } = attachment;
    const names = { rid: frame.rid, cmid: frame.type === 'send' ? frame.cmid : undefined };
    const sent = frame.type === 'send' ? await this.acceptWithLease(identity, tier, frame.cmid, frame.content, frame.replyToSeq) : null;
    const result = attempt((): ServerFrame | null => {
      switch (frame.type) {
        case 'send':
          if (!sent!.ok) throw AppError.from(sent!.error);
          return { type: 'ack', rid: frame.rid, ...sent!.value };
        case 'history': {
          this.requireMember(identity.userId);
          const { type: _type, rid, ...query } = frame;
          return { type: 'history', rid, ...this.historyPage(query, identity.userId) };
        }
        case 'read': {
          const own = this.read(identity, frame.seq, tier);
          return { type: 'watermark', rid: frame.rid, conversationId: this.requireMeta().id, deliveredSeq: own.deliveredSeq, readSeq: own.readSeq };
        }
        case 'typing':
          this.typingFrom(ws, identity, frame.state, tier);
          return null;
        case 'edit':
          return { type: 'done', rid: frame.rid, seq: this.editMessage(identity, frame.targetSeq, frame.content) };
        case 'delete':
          return { type: 'done', rid: frame.rid, seq: this.removeMessage(identity, frame.targetSeq, frame.scope) };
        case 'react':
          return { type: 'done', rid: frame.rid, seq: this.reactTo(identity, frame.targetSeq, frame.emoji, frame.op) };
      }
    });
    if (!result.ok) {
      sendFrame(ws, errorFrame(result.error, names));
      if (result.error.code === 'conversation_not_found') ws.close(CLOSE_CODES.forbidden, 'Not a member.');
      return;
    }
    if (result.value) sendFrame(ws, result.value);
    // Fan-out starts once the ack is on its way, so it never delays it.
    if (result.value?.type === 'ack' && !result.value.duplicate) void this.deliverOutbox();
    if (frame.type === 'read' || frame.type === 'delete') await this.settle();
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    const identity = this.attachmentOf(ws);
    if (identity && this.typing.forget(identity.userId, identity.deviceId)) this.broadcastTyping(identity.userId, identity.deviceId, 'stop', ws);
    answerClose(ws, code, reason);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    closeQuietly(ws, CLOSE_CODES.serverError, 'Socket error.');
  }

  /** One alarm serves every deadline: outbox retries, the receipts flush, moderation purges. */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    this.indexMessages();
    this.flushReceipts();
    lifecycle.purgeDue(this.sql, Date.now());
    await this.deliverOutbox();
    if (this.ctx.getWebSockets().length > 0) await this.renewPresenceSubscription();
    await this.scheduleWake();
  }

  // ── The send path ────────────────────────────────────────────────────────────

  /**
   * Accepts one message: membership, idempotency by (sender, cmid), then seq = last + 1,
   * all synchronous so nothing interleaves. The caller sends the ack; the output gate
   * holds it until the write is durable. The event is broadcast to open windows here.
   */
  private accept(identity: Identity, tier: Tier, cmid: string, content: MessageContent, replyToSeq?: number): Ack {
    const existing = this.precheck(identity, tier, cmid, content, replyToSeq);
    if (existing) return existing;
    const now = Date.now();
    const stored = media.resolve(this.sql, identity.userId, content);
    // Last, so a send refused for any other reason spends nothing.
    const token = this.allowance.take(identity.userId, now);
    if (token.kind === 'lease') throw new NeedsLease();
    if (token.kind === 'denied') {
      throw new AppError('rate_limited', 'Too many messages across your conversations; wait before sending more.', { retryAfterMs: token.retryAfterMs });
    }
    const replyTo = replyToSeq === undefined ? {} : { replyTo: { seq: replyToSeq } };
    const write = () => {
      const appended = log.appendUnlessSent(this.sql, { type: 'message', ts: Date.now(), author: identity, cmid, content: stored, ...replyTo });
      if (appended) media.markReferenced(this.sql, stored, appended.seq);
      return appended;
    };
    // A text message is one statement, atomic by itself; media adds the references' rows.
    const event = mediaIdsOf(stored).length > 0 ? this.transaction(write) : write();
    if (!event) {
      // A resend that passed every check again: the first send's ack, and the token back.
      this.allowance.refund(identity.userId);
      return log.findAckByCmid(this.sql, identity.userId, cmid)!;
    }
    this.senderWindows.record(identity.userId, event.ts);
    // Search indexing is not here: the fan-out pass indexes in batches (search.catchUp).
    if (event.type === 'message') this.broadcast([lifecycle.renderNew(this.sql, event)]);
    return { cmid, seq: event.seq, ts: event.ts, duplicate: false };
  }

  /**
   * Every check of a send but the allowance: membership, blocks, the per-conversation
   * limit, the content filter, the reply target and media references. Run before a lease
   * is asked for too, so a send refused anyway never costs one; `accept` runs it again
   * because a lease wait lets other work interleave.
   *
   * Idempotency: a resend of a stored message gets the first send's ack even when a check
   * would refuse it now (over the limit, say), so a refusal first looks the cmid up and
   * returns that ack. A send that passes learns whether it is a resend from its insert
   * (`log.appendUnlessSent`), which spares every new send a look-up.
   */
  private precheck(identity: Identity, tier: Tier, cmid: string, content: MessageContent, replyToSeq?: number): Ack | null {
    this.requireMember(identity.userId);
    try {
      this.checkSend(identity, tier, content, replyToSeq);
      return null;
    } catch (err) {
      const existing = log.findAckByCmid(this.sql, identity.userId, cmid);
      if (existing) return existing;
      throw err;
    }
  }

  private checkSend(identity: Identity, tier: Tier, content: MessageContent, replyToSeq?: number): void {
    this.assertMayMessage(identity.userId);
    const perConversation = this.senderWindows.decide(identity.userId, messageRules(tier, this.env).conversationMessages, Date.now());
    if (!perConversation.allowed) {
      throw new AppError('rate_limited', 'Too many messages in this conversation; wait before sending more.', { retryAfterMs: perConversation.retryAfterMs });
    }
    const filter = this.filter();
    const text = filterableText(content);
    if (filter && text !== null) assertAcceptable(text, filter, this.allowance.repeated(identity.userId));
    if (replyToSeq !== undefined) lifecycle.checkReplyTarget(this.sql, replyToSeq);
    media.resolve(this.sql, identity.userId, content);
  }

  /**
   * `accept`, with a lease of the user's allowance fetched first when this conversation
   * holds none (the only await on the send path; see ./allowance.ts). A lease another send
   * used up meanwhile is fetched again, a bounded number of times.
   */
  private async acceptWithLease(identity: Identity, tier: Tier, cmid: string, content: MessageContent, replyToSeq?: number): Promise<Result<Ack>> {
    for (let round = 0; ; round++) {
      if (this.allowance.needsLease(identity.userId, Date.now())) {
        const early = attempt(() => this.precheck(identity, tier, cmid, content, replyToSeq));
        if (!early.ok) return early;
        if (early.value) return ok(early.value);
        await this.lease(identity.userId, tier, content, this.senderWindows.remaining(identity.userId, messageRules(tier, this.env).conversationMessages, Date.now()));
      }
      try {
        return attempt(() => this.accept(identity, tier, cmid, content, replyToSeq));
      } catch (err) {
        if (!(err instanceof NeedsLease)) throw err;
        if (round >= 3) return fail('rate_limited', 'Too many messages at once; try again.', { retryAfterMs: 1_000 });
      }
    }
  }

  /** `want`: what the per-conversation limit still allows, so no token is leased that this conversation cannot use. */
  private lease(userId: string, tier: Tier, content: MessageContent, want: number): Promise<void> {
    const pending = this.leasing.get(userId);
    if (pending) return pending;
    const request = (async () => {
      const rule = messageRules(tier, this.env).userMessages;
      const filter = this.filter();
      const now = Date.now();
      const mine = report(this.sql, userId, now, rule.windowMs, filter);
      const text = filter ? filterableText(content) : null;
      if (filter && text !== null && isRepeatCandidate(text, filter)) mine.texts.push({ hash: textHash(text), at: now });
      const grant = await this.env.USERS.getByName(userId).leaseSends({
        conversationId: this.requireMeta().id,
        ...mine,
        rule,
        want,
        repeat: filter?.repeat ?? { maxConversations: Number.MAX_SAFE_INTEGER, windowMs: 0 },
      });
      this.allowance.record(userId, grant, Date.now());
    })().finally(() => this.leasing.delete(userId));
    this.leasing.set(userId, request);
    return request;
  }

  /** The content filter for this conversation, or null when it is end-to-end encrypted (ciphertext is never inspected). */
  private filter(): FilterConfig | null {
    if (this.requireMeta().encrypted) return null;
    this.contentFilter ??= filterConfig(this.env);
    return this.contentFilter;
  }

  /** In a direct conversation, a user the other member blocked may not send. */
  private assertMayMessage(userId: string): void {
    if (this.requireMeta().kind !== 'direct') return;
    if (blocks.isBlockedByAnyone(this.sql, userId)) throw new AppError('forbidden', 'You cannot message this user.');
  }

  /** Whether `viewer`'s window should not show `subjectId`'s typing or presence. */
  private hides(ws: WebSocket, subjectId: string): boolean {
    const attachment = this.attachmentOf(ws);
    return !!attachment && (attachment.blocked.includes(subjectId) || blocks.has(this.sql, attachment.userId, subjectId));
  }

  // ── Receipts, typing and message lifecycle ───────────────────────────────────

  /** Moves the member's read position; when it moved, their UserDO hears of it (other devices clear unread). */
  private read(identity: Identity, seq: number, tier: Tier): receipts.OwnReceipts {
    const { userId } = identity;
    this.requireMember(userId);
    const allowed = this.receiptWindows.take(identity.deviceId, TIER_LIMITS[tier].receipts, Date.now());
    if (!allowed.allowed) throw new AppError('rate_limited', 'Too many read updates; send the latest seq less often.', { retryAfterMs: allowed.retryAfterMs });
    const conversationId = this.requireMeta().id;
    return this.transaction(() => {
      const now = Date.now();
      const move = receipts.markRead(this.sql, userId, seq, log.lastSeq(this.sql), now);
      if (move.readMoved) outbox.enqueue(this.sql, userId, { type: 'read', conversationId, seq: move.own.readSeq, ts: now }, now);
      return move.own;
    });
  }

  /** Pushes the watermarks that moved, once the coalescing interval since the first change has passed. */
  private flushReceipts(): void {
    const due = receipts.flushDue(this.sql);
    if (due === null || due > Date.now()) return;
    const watermarks = receipts.takeChanged(this.sql);
    if (watermarks.length > 0) this.sendAll({ type: 'receipts', conversationId: this.requireMeta().id, watermarks });
  }

  private typingFrom(ws: WebSocket, identity: Identity, state: 'start' | 'stop', tier: Tier): void {
    this.requireMember(identity.userId);
    const outcome = this.typing.update(identity.userId, identity.deviceId, state, Date.now(), TIER_LIMITS[tier].typing);
    if (outcome.kind === 'rate_limited') {
      throw new AppError('rate_limited', 'Typing updates are limited per device; refresh less often.', { retryAfterMs: outcome.retryAfterMs });
    }
    if (outcome.kind === 'broadcast') this.broadcastTyping(identity.userId, identity.deviceId, outcome.state, ws);
  }

  private broadcastTyping(userId: string, deviceId: string, state: 'start' | 'stop', except: WebSocket | null): void {
    const meta = this.loadMeta();
    if (!meta) return;
    const frame: ServerFrame = { type: 'typing', conversationId: meta.id, userId, deviceId, state };
    if (state === 'start') frame.expiresInMs = TYPING.ttlMs;
    this.batcher.flush();
    const text = JSON.stringify(frame);
    for (const ws of this.ctx.getWebSockets()) if (ws !== except && !this.hides(ws, userId)) sendText(ws, text);
  }

  private editMessage(identity: Identity, targetSeq: number, content: MessageContent): number {
    this.requireMember(identity.userId);
    const event = this.transaction(() => lifecycle.edit(this.sql, identity, targetSeq, content, Date.now()));
    this.broadcast([event]);
    return event.seq;
  }

  private removeMessage(identity: Identity, targetSeq: number, scope: DeleteScopeRequest): number | null {
    const member = this.requireMember(identity.userId);
    const meta = this.requireMeta();
    const now = Date.now();
    if (scope === 'me') {
      const hidden = this.transaction(() => {
        const changed = lifecycle.hideForMe(this.sql, identity.userId, targetSeq, now);
        if (changed) outbox.enqueue(this.sql, identity.userId, { type: 'hidden', conversationId: meta.id, seq: targetSeq, ts: now }, now);
        return changed;
      });
      if (hidden) {
        this.batcher.flush();
        const text = JSON.stringify({ type: 'hidden', conversationId: meta.id, seq: targetSeq } satisfies ServerFrame);
        for (const ws of this.ctx.getWebSockets(userTag(identity.userId))) sendText(ws, text);
      }
      return null;
    }
    const actor = { ...identity, role: member.role };
    const target = log.eventAt(this.sql, targetSeq);
    const mediaIds = scope === 'everyone' && target?.type === 'message' && target.content ? mediaIdsOf(target.content) : [];
    const event = this.transaction(() => {
      const deleted = lifecycle.deleteForAll(this.sql, actor, meta.kind, targetSeq, scope === 'moderate' ? 'moderated' : 'everyone', now);
      if (deleted) media.forget(this.sql, mediaIds, now);
      return deleted;
    });
    if (event) this.broadcast([event]);
    // The blobs go after the tombstone is durable; the orphan sweep catches a failure here.
    if (event && mediaIds.length > 0) this.ctx.waitUntil(deleteMediaOf(this.env, mediaIds));
    return event?.seq ?? null;
  }

  private reactTo(identity: Identity, targetSeq: number, emoji: string, op: 'add' | 'remove'): number | null {
    this.requireMember(identity.userId);
    const event = this.transaction(() => lifecycle.react(this.sql, identity, targetSeq, emoji, op, Date.now()));
    if (event) this.broadcast([event]);
    return event?.seq ?? null;
  }

  /** After a change that queued user updates or set a deadline: deliver, and set the alarm. */
  private async settle(): Promise<void> {
    await this.deliverOutbox();
    await this.scheduleWake();
  }

  /** Sets the alarm for the earliest deadline: outbox retry, receipts flush or moderation purge. */
  /** Events to every open window, coalesced under load (./batcher.ts). */
  private broadcast(events: ConversationEvent[]): void {
    this.requireMeta();
    this.batcher.add(events, intervalMs(this.ctx.getWebSockets().length));
    this.feedWaiters.wake();
  }

  /** Any other frame to every window, after the events still waiting (order kept). */
  private sendAll(frame: ServerFrame): void {
    this.batcher.flush();
    this.writeAll(frame);
  }

  private writeAll(frame: ServerFrame): void {
    const text = JSON.stringify(frame);
    for (const ws of this.ctx.getWebSockets()) sendText(ws, text);
  }

  /** A page of history with each message in its current state as `viewerId` sees it. */
  private historyPage(query: HistoryQuery, viewerId: string): HistoryPage {
    const page = log.page(this.sql, query);
    const events = lifecycle.render(this.sql, page.events, viewerId);
    return { conversationId: this.requireMeta().id, lastSeq: log.lastSeq(this.sql), events, hasMore: page.hasMore };
  }

  // ── Membership changes and the outbox ────────────────────────────────────────

  /** Applies a membership change, logs it as an event and queues the member's update. */
  private changeMembership(
    actor: Identity,
    change: { type: 'member_added'; userId: string; role: Role } | { type: 'member_removed'; userId: string } | { type: 'role_changed'; userId: string; role: Role },
    apply: () => void,
  ): ConversationEvent {
    const now = Date.now();
    const event = this.transaction(() => {
      apply();
      this.memberCache = null;
      const appended = log.append(this.sql, { ...change, ts: now, author: actor });
      const role = change.type === 'member_removed' ? null : change.role;
      outbox.enqueue(this.sql, change.userId, this.membershipUpdate(change.userId, role, appended.seq, now), now);
      return appended;
    });
    this.broadcast([event]);
    return event;
  }

  private membershipUpdate(userId: string, role: Role | null, seq: number, ts: number, all?: string[]): UserUpdate {
    const meta = this.requireMeta();
    const memberIds = all ?? members.listMembers(this.sql).map((m) => m.userId);
    const peerId = meta.kind === 'direct' ? (memberIds.find((id) => id !== userId) ?? null) : null;
    return { type: 'membership', conversationId: meta.id, conversationKind: meta.kind, title: meta.title, peerId, role, seq, ts };
  }

  /**
   * Delivers what the outbox holds (membership updates) and fans out new events. An
   * alarm is set first, in the same synchronous turn as the write that made the work,
   * so work left by an eviction or a failed call is finished later; one pass at a time.
   * Never rejects: failures are retried from the alarm.
   */
  private deliverOutbox(): Promise<void> {
    this.draining ??= this.drainOutbox()
      .catch((err) => console.error(JSON.stringify({ level: 'error', msg: 'outbox drain failed', error: String(err) })))
      .finally(() => {
        this.draining = null;
      });
    return this.draining;
  }

  private async drainOutbox(): Promise<void> {
    if (this.deliveryDueAt() === null) return;
    // The alarm is set in this turn, with the write that made the work; the calls start
    // a moment after that write is durable (FANOUT.settleMs), so the deliveries its
    // output gate released go first.
    await Promise.all([this.armAlarm(Date.now() + outbox.OUTBOX.retryDelayMs), this.ctx.storage.sync()]);
    await scheduler.wait(fanout.FANOUT.settleMs);
    this.indexBatch();
    for (;;) {
      const items = outbox.due(this.sql, Date.now());
      if (items.length === 0) break;
      await Promise.all([...outbox.byUser(items)].map(([userId, list]) => this.deliverTo(userId, list)));
    }
    const meta = this.loadMeta();
    if (meta) {
      await fanout.drain({
        sql: this.sql,
        conversationId: meta.id,
        kind: meta.kind,
        members: () => [...this.memberMap().keys()],
        maxMembersOnWrite: fanout.maxMembersOnWrite(this.env.FANOUT_ON_WRITE_MAX_MEMBERS),
        deliver: (userId, update) => this.env.USERS.getByName(userId).apply([update]),
      });
    }
    this.indexBatch();
    await this.scheduleWake();
  }

  /** When outbox or fan-out delivery is next due, or null. */
  private deliveryDueAt(): number | null {
    const onWrite = this.memberMap().size <= fanout.maxMembersOnWrite(this.env.FANOUT_ON_WRITE_MAX_MEMBERS);
    return earliest([outbox.nextDue(this.sql), fanout.nextDue(this.sql, onWrite, Date.now())]);
  }

  /** Indexes for search what was sent since the last time, in one write. */
  private indexMessages(): void {
    this.transaction(() => search.catchUp(this.sql, log.lastSeq(this.sql)));
  }

  /** From a drain pass: indexes once a batch has built up (the alarm indexes the rest). */
  private indexBatch(): void {
    if (log.lastSeq(this.sql) - search.indexedUpTo(this.sql) >= search.SEARCH_INDEX.batch) this.indexMessages();
  }

  /**
   * When any work is next due: delivery, the receipts flush, a moderation purge, the
   * presence subscription's renewal, search indexing; or null.
   */
  private nextWorkAt(): number | null {
    const renewal = this.ctx.getWebSockets().length > 0 && this.presenceUntil > 0 ? this.presenceUntil - PRESENCE.subscriptionTtlMs / 2 : null;
    const indexing = search.indexedUpTo(this.sql) < log.lastSeq(this.sql) ? Date.now() + search.SEARCH_INDEX.delayMs : null;
    return earliest([this.deliveryDueAt(), receipts.flushDue(this.sql), lifecycle.nextPurge(this.sql), renewal, indexing]);
  }

  /**
   * One alarm serves every deadline. A finished drain leaves its alarm in place rather
   * than deleting it (one write fewer per burst); it then finds nothing to do.
   */
  private async scheduleWake(): Promise<void> {
    const next = this.nextWorkAt();
    if (next !== null) await this.armAlarm(next);
  }

  /** Sets the alarm to `at` unless this instance already set one due no later. */
  private armAlarm(at: number): Promise<void> {
    if (this.alarmAt !== null && this.alarmAt <= at) return Promise.resolve();
    this.alarmAt = at;
    return this.ctx.storage.setAlarm(at);
  }

  private async deliverTo(userId: string, items: outbox.OutboxItem[]): Promise<void> {
    const ids = items.map((i) => i.id);
    try {
      await this.env.USERS.getByName(userId).apply(items.map((i) => i.update));
      outbox.remove(this.sql, ids);
    } catch (err) {
      const attempts = Math.max(...items.map((i) => i.attempts));
      outbox.postpone(this.sql, ids, attempts, Date.now());
      console.warn(JSON.stringify({ level: 'warn', msg: 'fan-out to user failed; will retry', attempts, error: String(err) }));
    }
  }

  // ── Presence subscription ────────────────────────────────────────────────────

  /**
   * While a chat window is open, members' UserDOs relay presence changes here
   * (subscriptions expire after PRESENCE.subscriptionTtlMs, so this renews them at half
   * that). Costs one call per member per renewal, whatever the members' contacts.
   */
  private async renewPresenceSubscription(): Promise<void> {
    const now = Date.now();
    const meta = this.loadMeta();
    if (!meta || this.presenceUntil - now > PRESENCE.subscriptionTtlMs / 2) return;
    const until = now + PRESENCE.subscriptionTtlMs;
    this.presenceUntil = until;
    const ids = members.listMembers(this.sql).map((m) => m.userId);
    const results = await Promise.allSettled(ids.map((id) => this.env.USERS.getByName(id).subscribePresence(meta.id, until)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (failed > 0) console.warn(JSON.stringify({ level: 'warn', msg: 'presence subscriptions failed', failed, of: ids.length }));
    // Presence is best effort: a failure here must not fail the window or the alarm.
    await this.armAlarm(until - PRESENCE.subscriptionTtlMs / 2).catch((err) =>
      console.warn(JSON.stringify({ level: 'warn', msg: 'presence renewal alarm failed', error: String(err) })),
    );
  }

  // ── State helpers ────────────────────────────────────────────────────────────

  /**
   * A socket's attachment, deserialised once per socket and instance: every frame needs it,
   * and a structured-clone read per frame was a visible part of a message's cost.
   */
  private attachmentOf(ws: WebSocket): SocketAttachment | null {
    let attachment = this.attachments.get(ws);
    if (!attachment) {
      attachment = (ws.deserializeAttachment() as SocketAttachment | null) ?? undefined;
      if (attachment) this.attachments.set(ws, attachment);
    }
    return attachment ?? null;
  }

  /** Stores a socket's attachment (it survives hibernation) and keeps the copy in memory. */
  private attach(ws: WebSocket, attachment: SocketAttachment): void {
    ws.serializeAttachment(attachment);
    this.attachments.set(ws, attachment);
  }

  private loadMeta(): Meta | null {
    if (this.meta) return this.meta;
    const rows = this.sql.exec<{ key: string; value: string }>('SELECT key, value FROM meta').toArray();
    if (rows.length === 0) return null;
    const map = new Map(rows.map((r) => [r.key, r.value]));
    this.meta = {
      id: map.get('id')!,
      kind: map.get('kind') as ConversationKind,
      title: map.get('title') ?? null,
      createdAt: Number(map.get('created_at')),
      encrypted: map.get('e2e') === '1',
    };
    return this.meta;
  }

  private requireMeta(): Meta {
    const meta = this.loadMeta();
    if (!meta) throw new AppError('conversation_not_found', 'No such conversation, or you are not a member.');
    return meta;
  }

  private memberMap(): Map<string, Member> {
    this.memberCache ??= new Map(members.listMembers(this.sql).map((m) => [m.userId, m]));
    return this.memberCache;
  }

  private member(userId: string): Member | null {
    return this.memberMap().get(userId) ?? null;
  }

  /**
   * Every write goes through here: a write that throws is rolled back, and then the
   * seq and members this instance keeps in memory must be read again.
   */
  private transaction<T>(fn: () => T): T {
    try {
      return this.ctx.storage.transactionSync(fn);
    } catch (err) {
      log.forgetLastSeq(this.sql);
      outbox.forget(this.sql);
      fanout.forget(this.sql);
      search.forget(this.sql);
      this.memberCache = null;
      throw err;
    }
  }

  /** Non-members get the same answer as for a conversation that does not exist. */
  private requireMember(userId: string): Member {
    this.requireMeta();
    const member = this.member(userId);
    if (!member) throw new AppError('conversation_not_found', 'No such conversation, or you are not a member.');
    return member;
  }

  private describe(): ConversationInfo {
    const meta = this.requireMeta();
    return { ...meta, lastSeq: log.lastSeq(this.sql), members: members.listMembers(this.sql) };
  }
}

function earliest(times: (number | null)[]): number | null {
  const known = times.filter((t): t is number => t !== null);
  return known.length > 0 ? Math.min(...known) : null;
}
