/**
 * @module user/UserDO
 * One object per user. Owns the user's inbox (conversation list with last seq, preview
 * and unread counts), the devices' offline queues with their cursors, the devices' inbox
 * sockets (one per device) and presence. Conversations feed it through their durable
 * outboxes; applying an update is idempotent, so a retried delivery changes nothing twice.
 *
 * The logic lives in ./inbox.ts, ./queues.ts and ./presence.ts; this class dispatches.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env.js';
import { migrate } from '../storage/migrate.js';
import { attempt, type Result } from '../errors.js';
import {
  CLOSE_CODES,
  INBOX,
  INBOX_CLIENT_FRAME_TYPES,
  InboxClientFrame,
  PING_FRAME,
  PONG_FRAME,
  PRESENCE,
  parseFrame,
  type ActivityFrame,
  type ConversationSummary,
  type DeviceEvent,
  type DeviceEventPage,
  type InboxFrame,
  type Presence,
  type PresenceSettings,
} from '../protocol/index.js';
import { answerClose, closeQuietly, errorFrame, rejectSocket, sendFrame, sendText, upgradeIdentity } from '../objects/sockets.js';
import { USER_MIGRATIONS } from './schema.js';
import * as inbox from './inbox.js';
import * as queues from './queues.js';
import * as presence from './presence.js';
import type { UserUpdate } from './updates.js';
import { pushCandidates } from './notifications.js';
import { PUSH, clearPushState, hasSubscription, notifyOffline } from '../push/index.js';
import { deviceStanding, findUser } from '../auth/accounts.js';
import type { Tier } from '../ratelimit/rules.js';
import * as allowance from './allowance.js';
import * as blocks from './blocks.js';
import { DeliveredReports } from './delivered.js';
import { grantLease, needsSettling, type LeaseGrant, type LeaseRequest, type SendReport } from '../ratelimit/allowance.js';
import type { WindowRule } from '../ratelimit/sliding-window.js';

type ActivityHint = Omit<ActivityFrame, 'type'>;

const deviceTag = (deviceId: string) => `device:${deviceId}`;

export class UserDO extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Long polls waiting for new events, per device. In memory: an eviction ends them and clients poll again. */
  private readonly waiters = new Map<string, Set<() => void>>();
  /**
   * Devices reading their stream over SSE or long polling, with when they were last seen
   * doing so. In memory: a wait keeps the object alive, and a client between polls that
   * outlives an eviction is seen again at its next poll.
   */
  private readonly httpDevices = new Map<string, number>();
  /** Senders' display names for notifications, cached for this instance's life. */
  private readonly displayNames = new Map<string, string>();
  private readonly deliveredReports = new DeliveredReports(async (conversationId, seq) => {
    try {
      await this.env.CONVERSATIONS.getByName(conversationId).markDelivered(this.userId, seq);
    } catch (err) {
      warn('delivered receipt failed', err);
    }
  });
  /** Whether the user has a push subscription, as D1 said at `checkedAt` (see `pushSubscribed`). */
  private pushCheck: { subscribed: boolean; checkedAt: number } | null = null;
  /** Bumped by `pushSubscriptionsChanged`, so a D1 answer read before the change is not kept. */
  private pushGeneration = 0;
  /** Lease decisions run one at a time: settling an expired lease awaits its conversation. */
  private leaseQueue: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(ctx.storage, USER_MIGRATIONS);
    // Heartbeats are answered by the runtime, which records when: see checkHeartbeats.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  /** Every stub is obtained with getByName(userId), so the name is the user id. */
  private get userId(): string {
    const name = this.ctx.id.name;
    if (!name) throw new Error('UserDO must be addressed by name (the user id).');
    return name;
  }

  // ── RPC: updates from conversations ──────────────────────────────────────────

  /** Applies updates from a conversation, in order, each at most once. */
  async apply(updates: UserUpdate[]): Promise<void> {
    const now = Date.now();
    const { events, hints } = this.ctx.storage.transactionSync(() => {
      const fresh: queues.NewDeviceEvent[] = [];
      const hints: ActivityHint[] = [];
      for (const update of updates) {
        switch (update.type) {
          case 'membership':
            if (inbox.applyMembership(this.sql, update)) {
              const { type: _type, ts: _ts, ...rest } = update;
              fresh.push({ ...rest, kind: 'membership' });
            }
            break;
          case 'events':
            for (const event of inbox.applyEvents(this.sql, this.userId, update)) {
              if (event.type === 'message_deleted') queues.scrubMessage(this.sql, update.conversationId, event.targetSeq);
              fresh.push({ kind: 'event', conversationId: update.conversationId, event });
            }
            break;
          case 'activity':
            if (inbox.applyActivity(this.sql, update)) hints.push({ conversationId: update.conversationId, lastSeq: update.seq, ts: update.ts });
            break;
          case 'read':
            inbox.applyRead(this.sql, update);
            break;
        }
      }
      return { events: queues.append(this.sql, fresh, now), hints };
    });
    // Events that reached no live device wait in the queues; tell the user's devices by
    // Web Push, off the fan-out path (a push service can be slow).
    if (this.pushLive(events, hints) === 0 && events.length > 0) this.ctx.waitUntil(this.notifyOffline(events));
  }

  // ── RPC: the device event stream (inbox socket, SSE, long polling) ───────────

  /**
   * The device's events after `afterCursor` (and after what it acknowledged), in order.
   * Reading does not acknowledge. For SSE, `afterCursor` is the Last-Event-ID.
   */
  async readEvents(deviceId: string, afterCursor: number, limit: number = INBOX.maxEventsPerRead): Promise<DeviceEventPage> {
    const now = Date.now();
    return this.ctx.storage.transactionSync(() => {
      queues.registerDevice(this.sql, deviceId, now);
      queues.trimExpired(this.sql, now);
      return queues.read(this.sql, deviceId, afterCursor, limit);
    });
  }

  /**
   * Like readEvents, but when nothing is waiting holds until something arrives or
   * `timeoutMs` (at most INBOX.longPollMs) passes, then answers (possibly empty).
   */
  async waitForEvents(deviceId: string, afterCursor: number, timeoutMs: number = INBOX.longPollMs): Promise<DeviceEventPage> {
    await this.streamSeen(deviceId, Date.now());
    try {
      return await this.waitOrRead(deviceId, afterCursor, timeoutMs);
    } finally {
      this.httpDevices.set(deviceId, Date.now());
    }
  }

  private async waitOrRead(deviceId: string, afterCursor: number, timeoutMs: number): Promise<DeviceEventPage> {
    const first = await this.readEvents(deviceId, afterCursor);
    if (first.events.length > 0 || first.truncated) return first;
    await new Promise<void>((resolve) => {
      const waiting = this.waiters.get(deviceId) ?? new Set<() => void>();
      this.waiters.set(deviceId, waiting);
      const done = () => {
        clearTimeout(timer);
        waiting.delete(done);
        if (waiting.size === 0) this.waiters.delete(deviceId);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, Math.min(timeoutMs, INBOX.longPollMs)));
      waiting.add(done);
    });
    return this.readEvents(deviceId, afterCursor);
  }

  /** The device has everything up to `cursor`: it leaves the device's queue. */
  async ackEvents(deviceId: string, cursor: number): Promise<{ cursor: number }> {
    const { acked, delivered } = this.ctx.storage.transactionSync(() => {
      queues.registerDevice(this.sql, deviceId, Date.now());
      const acked = queues.ack(this.sql, deviceId, cursor);
      const delivered: [string, number][] = [];
      for (const [conversationId, seq] of acked.reached) {
        if (inbox.recordDelivered(this.sql, conversationId, seq) !== null) delivered.push([conversationId, seq]);
      }
      return { acked, delivered };
    });
    // A message counts as delivered to this user once one of their devices has it.
    if (delivered.length > 0) this.ctx.waitUntil(this.reportDelivered(delivered));
    return { cursor: acked.cursor };
  }

  /**
   * The device was signed out: its queue stops holding events back, and its sockets close
   * at once: the inbox socket here, and its chat windows in every conversation of the user.
   */
  async forgetDevice(deviceId: string): Promise<void> {
    this.httpDevices.delete(deviceId);
    this.ctx.storage.transactionSync(() => queues.forgetDevice(this.sql, deviceId));
    for (const ws of this.ctx.getWebSockets(deviceTag(deviceId))) closeQuietly(ws, CLOSE_CODES.deviceRevoked, 'This device has been signed out.');
    const ids = inbox.list(this.sql).map(({ summary }) => summary.id);
    const results = await Promise.allSettled(ids.map((id) => this.env.CONVERSATIONS.getByName(id).closeDevice(this.userId, deviceId)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    // Such a window still cannot act for long: its next upgrade or HTTP call is refused.
    if (failed > 0) console.warn(JSON.stringify({ level: 'warn', msg: 'closing revoked chat windows failed', failed, of: ids.length }));
  }

  // ── RPC: abuse control ───────────────────────────────────────────────────────

  /**
   * A conversation asks for a lease of this user's message allowance, reporting what the
   * user sent there (src/ratelimit/allowance.ts). Leases of other conversations that have
   * expired are settled first by asking those conversations what was really sent.
   */
  async leaseSends(request: LeaseRequest): Promise<LeaseGrant> {
    const decision = this.leaseQueue.then(() => this.decideLease(request));
    this.leaseQueue = decision.catch(() => undefined);
    return decision;
  }

  private async decideLease(request: LeaseRequest): Promise<LeaseGrant> {
    const now = Date.now();
    allowance.forgetOlderThan(this.sql, now - Math.max(request.rule.windowMs, request.repeat.windowMs));
    const others = allowance.load(this.sql).filter((r) => r.conversationId !== request.conversationId);
    const settled = await Promise.all(others.map((r) => (needsSettling(r, now) ? this.settle(r, request.rule) : r)));
    const at = Date.now();
    const grant = grantLease(settled, request, at);
    const tokens = 'retryAfterMs' in grant ? 0 : grant.granted;
    allowance.save(this.sql, {
      conversationId: request.conversationId,
      hits: request.hits,
      texts: request.texts,
      leaseTokens: tokens,
      leaseExpiresAt: 'retryAfterMs' in grant ? at : grant.expiresAt,
    });
    return grant;
  }

  /** Replaces an expired lease by what its conversation's log says was sent; if it cannot answer, every token counts as spent at expiry. */
  private async settle(report: SendReport, rule: WindowRule): Promise<SendReport> {
    let fresh: SendReport;
    try {
      const sent = await this.env.CONVERSATIONS.getByName(report.conversationId).sendReport(this.userId, rule.windowMs);
      fresh = { ...report, hits: sent.hits, texts: sent.texts, leaseTokens: 0 };
    } catch (err) {
      console.warn(JSON.stringify({ level: 'warn', msg: 'settling a send lease failed; counting it as spent', error: String(err) }));
      // More than `limit` sends at one instant decide nothing more than `limit` do.
      const spent = Array<number>(Math.min(report.leaseTokens, rule.limit)).fill(report.leaseExpiresAt);
      fresh = { ...report, hits: [...report.hits, ...spent], leaseTokens: 0 };
    }
    allowance.save(this.sql, fresh);
    return fresh;
  }

  /** From the push routes: a subscription of this user was saved or deleted in D1. */
  async pushSubscriptionsChanged(): Promise<void> {
    this.pushGeneration++;
    this.pushCheck = null;
  }

  /** Whether the device may act, and its tier (for now read from D1; the UserDO's own device table replaces this). */
  async standing(deviceId: string): Promise<{ active: boolean; tier: Tier }> {
    return deviceStanding(this.env.DB, { userId: this.userId, deviceId });
  }

  async blockedIds(): Promise<string[]> {
    return blocks.list(this.sql).map((b) => b.userId);
  }

  async isBlocking(userId: string): Promise<boolean> {
    return blocks.isBlocked(this.sql, userId);
  }

  async listBlocks(): Promise<{ userId: string; blockedAt: number }[]> {
    return blocks.list(this.sql);
  }

  async setBlock(userId: string, on: boolean): Promise<Result<void>> {
    return attempt(() => {
      if (on) blocks.block(this.sql, userId, Date.now());
      else blocks.unblock(this.sql, userId);
    });
  }

  // ── RPC: the conversation list ───────────────────────────────────────────────

  /**
   * The user's current conversations, most recent activity first. Large conversations
   * (fan-out on read) are asked for their current state; the rest is local.
   */
  async listConversations(): Promise<ConversationSummary[]> {
    const listed = inbox.list(this.sql);
    const summaries = await Promise.all(
      listed.map(async ({ summary, onRead }) => {
        if (!onRead) return summary;
        try {
          const fresh = await this.env.CONVERSATIONS.getByName(summary.id).inboxState(this.userId, summary.readSeq);
          return fresh.ok ? { ...summary, ...fresh.value } : summary;
        } catch (err) {
          // The hints already in the row are a fair answer when the conversation is unreachable.
          console.warn(JSON.stringify({ level: 'warn', msg: 'inbox state of a large conversation failed', error: String(err) }));
          return summary;
        }
      }),
    );
    return summaries.sort(inbox.byActivity);
  }

  // ── RPC: presence ────────────────────────────────────────────────────────────

  /** This user's presence as `viewerId` may see it: hidden (offline, never seen) from users they blocked. */
  async presence(viewerId?: string): Promise<Presence> {
    if (viewerId !== undefined && blocks.isBlocked(this.sql, viewerId)) return { userId: this.userId, online: false, lastSeenAt: null };
    return presence.snapshot(this.sql, this.userId);
  }

  async setPresenceSettings(settings: PresenceSettings): Promise<Presence> {
    presence.setHideLastSeen(this.sql, settings.hideLastSeen);
    return presence.snapshot(this.sql, this.userId);
  }

  /** A conversation with an open chat window wants this user's presence changes until `expiresAt`. */
  async subscribePresence(conversationId: string, expiresAt: number): Promise<Presence> {
    presence.subscribe(this.sql, conversationId, Math.min(expiresAt, Date.now() + PRESENCE.subscriptionTtlMs));
    return presence.snapshot(this.sql, this.userId);
  }

  /**
   * Closes inbox sockets silent for longer than PRESENCE.staleAfterMs (half-open: the
   * client vanished without a close) and updates presence. Run by the alarm; `now` is a
   * parameter so the bound can be checked without waiting for it.
   */
  async checkHeartbeats(now: number = Date.now()): Promise<number> {
    for (const [deviceId, seen] of this.httpDevices) {
      if (!this.waiters.has(deviceId) && presence.isStale(seen, now)) this.httpDevices.delete(deviceId);
    }
    const stale: WebSocket[] = [];
    for (const ws of this.openSockets()) {
      const attachment = ws.deserializeAttachment() as presence.InboxAttachment;
      if (presence.isStale(presence.lastSignOfLife(attachment, this.ctx.getWebSocketAutoResponseTimestamp(ws)), now)) stale.push(ws);
    }
    for (const ws of stale) closeQuietly(ws, CLOSE_CODES.goingAway, 'No heartbeat.');
    await this.presenceMayHaveChanged(now, stale);
    return stale.length;
  }

  // ── The inbox socket ─────────────────────────────────────────────────────────

  /**
   * Accepts an inbox socket the worker authenticated. A newer socket of the same device
   * replaces the older. The device first gets its backlog in order, then live events.
   */
  override async fetch(request: Request): Promise<Response> {
    const identity = upgradeIdentity(request);
    if (!identity || identity.userId !== this.userId) return new Response('Expected an authenticated WebSocket upgrade.', { status: 426 });
    const { deviceId } = identity;
    const now = Date.now();
    for (const old of this.ctx.getWebSockets(deviceTag(deviceId))) {
      closeQuietly(old, CLOSE_CODES.replaced, 'Replaced by a newer connection of this device.');
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, [deviceTag(deviceId)]);
    server.serializeAttachment({ deviceId, connectedAt: now, lastMessageAt: now } satisfies presence.InboxAttachment);
    try {
      this.sendBacklog(server, deviceId, now);
    } catch (err) {
      console.error(JSON.stringify({ level: 'error', msg: 'inbox backlog failed', error: String(err) }));
      closeQuietly(server, CLOSE_CODES.serverError, 'Could not load the queue.');
      return rejectSocket({ code: 'internal', message: 'Could not load the queue; try again.' }, CLOSE_CODES.serverError);
    }
    await this.presenceMayHaveChanged(now);
    await this.scheduleAlarm(now + PRESENCE.checkIntervalMs);
    // A device is reading now: open notification bursts end, the next message notifies afresh.
    this.ctx.waitUntil(clearPushState(this.env, this.userId).catch((err) => warn('clearing push state failed', err)));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const attachment = ws.deserializeAttachment() as presence.InboxAttachment;
    ws.serializeAttachment({ ...attachment, lastMessageAt: Date.now() } satisfies presence.InboxAttachment);
    if (typeof message !== 'string') {
      sendFrame(ws, errorFrame({ code: 'invalid_request', message: 'Binary frames are not supported; send JSON text.' }));
      return;
    }
    const parsed = parseFrame(message, InboxClientFrame, INBOX_CLIENT_FRAME_TYPES);
    if (!parsed.ok) {
      sendFrame(ws, errorFrame(parsed.error, parsed));
      return;
    }
    await this.ackEvents(attachment.deviceId, parsed.frame.cursor);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    answerClose(ws, code, reason);
    await this.presenceMayHaveChanged(Date.now(), [ws]);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    closeQuietly(ws, CLOSE_CODES.serverError, 'Socket error.');
    await this.presenceMayHaveChanged(Date.now(), [ws]);
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    await this.checkHeartbeats(now);
    const pending = presence.pendingRelayAt(this.sql);
    if (pending !== null && pending <= now) await this.relayPresence(now);
    queues.trimExpired(this.sql, now);
    const next = [this.isOnline() ? now + PRESENCE.checkIntervalMs : null, presence.pendingRelayAt(this.sql)];
    const at = Math.min(...next.filter((t): t is number => t !== null));
    if (Number.isFinite(at)) await this.ctx.storage.setAlarm(at);
  }

  // ── Internals ────────────────────────────────────────────────────────────────

  /** Sends the device what it missed, in order, then `caught_up`. Synchronous, so no live event interleaves. */
  private sendBacklog(ws: WebSocket, deviceId: string, now: number): void {
    const { acked, truncated } = this.ctx.storage.transactionSync(() => {
      queues.registerDevice(this.sql, deviceId, now);
      queues.trimExpired(this.sql, now);
      const truncated = queues.isTruncated(this.sql, deviceId);
      return { acked: truncated ? queues.skipDropped(this.sql, deviceId) : queues.ackedCursor(this.sql, deviceId), truncated };
    });
    sendInbox(ws, { type: 'inbox_ready', userId: this.userId, deviceId, ackedCursor: acked, lastCursor: queues.lastCursor(this.sql) });
    if (truncated) {
      sendInbox(ws, {
        type: 'queue_truncated',
        resumeCursor: acked,
        message: 'Some events were dropped while this device was away; catch up from each conversation\'s history.',
      });
    }
    let after = acked;
    for (;;) {
      const page = queues.read(this.sql, deviceId, after);
      const last = page.events.at(-1);
      if (!last) break;
      sendInbox(ws, { type: 'deliver', events: page.events });
      after = last.cursor;
    }
    sendInbox(ws, { type: 'caught_up', cursor: after });
  }

  /** Delivered receipts, coalesced per conversation (./delivered.ts). */
  private async reportDelivered(delivered: [string, number][]): Promise<void> {
    await Promise.all(delivered.map(([conversationId, seq]) => this.deliveredReports.report(conversationId, seq)));
  }

  private async notifyOffline(events: DeviceEvent[]): Promise<void> {
    const candidates = pushCandidates(this.userId, events, (id) => inbox.describe(this.sql, id));
    if (candidates.length === 0 || !(await this.pushSubscribed())) return;
    for (const { senderId, ...job } of candidates) {
      try {
        await notifyOffline(this.env, { ...job, senderName: await this.displayName(senderId) });
      } catch (err) {
        warn('queueing a push notification failed', err);
      }
    }
  }

  /**
   * Whether any device of the user subscribed to push. Without one, an offline message
   * costs no D1 write for its burst (one per fan-out pass otherwise). Kept for
   * PUSH.subscriptionCheckMs; the push routes call `pushSubscriptionsChanged` at once.
   */
  private async pushSubscribed(): Promise<boolean> {
    const now = Date.now();
    if (this.pushCheck && now - this.pushCheck.checkedAt < PUSH.subscriptionCheckMs) return this.pushCheck.subscribed;
    const generation = this.pushGeneration;
    const subscribed = await hasSubscription(this.env.DB, this.userId);
    if (generation === this.pushGeneration) this.pushCheck = { subscribed, checkedAt: now };
    return subscribed;
  }

  private async displayName(userId: string): Promise<string> {
    let name = this.displayNames.get(userId);
    if (name === undefined) {
      name = (await findUser(this.env.DB, { id: userId }))?.displayName ?? userId;
      this.displayNames.set(userId, name);
    }
    return name;
  }

  /**
   * Pushes new events and hints to every open inbox socket and wakes waiting long polls
   * and streams; returns how many of those got them (0: no device is online).
   */
  private pushLive(events: DeviceEvent[], hints: ActivityHint[]): number {
    if (events.length === 0 && hints.length === 0) return 0;
    const sockets = this.openSockets();
    const texts: string[] = [];
    if (events.length > 0) texts.push(JSON.stringify({ type: 'deliver', events } satisfies InboxFrame));
    for (const hint of hints) texts.push(JSON.stringify({ type: 'activity', ...hint } satisfies InboxFrame));
    for (const ws of sockets) for (const text of texts) sendText(ws, text);
    let waiting = 0;
    if (events.length > 0) {
      for (const list of this.waiters.values()) {
        waiting += list.size;
        for (const wake of [...list]) wake();
      }
    }
    return sockets.length + waiting;
  }

  private openSockets(except: WebSocket[] = []): WebSocket[] {
    return this.ctx.getWebSockets().filter((ws) => ws.readyState === WebSocket.OPEN && !except.includes(ws));
  }

  /**
   * Online: a device holds an inbox socket, or reads its stream over HTTP (an SSE stream
   * or long poll is waiting, or ended less than PRESENCE.staleAfterMs ago: a long-polling
   * client is between two polls).
   */
  private isOnline(leaving: WebSocket[] = []): boolean {
    return this.openSockets(leaving).length > 0 || this.httpDevices.size > 0;
  }

  /** A device reads its stream over HTTP: it counts as online, and it is reading now. */
  private async streamSeen(deviceId: string, now: number): Promise<void> {
    const known = this.httpDevices.has(deviceId);
    this.httpDevices.set(deviceId, now);
    if (known) return;
    await this.presenceMayHaveChanged(now);
    await this.scheduleAlarm(now + PRESENCE.checkIntervalMs);
    this.ctx.waitUntil(clearPushState(this.env, this.userId).catch((err) => warn('clearing push state failed', err)));
  }

  private async presenceMayHaveChanged(now: number, leaving: WebSocket[] = []): Promise<void> {
    const online = this.isOnline(leaving);
    if (!presence.setOnline(this.sql, online, now)) return;
    const decision = presence.relayDecision(this.sql, now);
    if (decision.kind === 'now') await this.relayPresence(now);
    else if (decision.kind === 'later') await this.scheduleAlarm(decision.at);
  }

  /** Tells the subscribed conversations (open chat windows) the current presence. */
  private async relayPresence(now: number): Promise<void> {
    const decision = presence.relayDecision(this.sql, now);
    if (decision.kind !== 'now') return;
    const snapshot = presence.snapshot(this.sql, this.userId);
    presence.markRelayed(this.sql, snapshot.online, now);
    const { conversationIds } = presence.subscribers(this.sql, now);
    await Promise.all(
      conversationIds.map(async (id) => {
        try {
          const stillOpen = await this.env.CONVERSATIONS.getByName(id).relayPresence(snapshot);
          if (!stillOpen) presence.unsubscribe(this.sql, id);
        } catch (err) {
          console.warn(JSON.stringify({ level: 'warn', msg: 'presence relay failed', error: String(err) }));
        }
      }),
    );
  }

  /** Sets the alarm to `at` unless one is already due sooner. */
  private async scheduleAlarm(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }
}

function sendInbox(ws: WebSocket, frame: InboxFrame): void {
  sendFrame(ws, frame);
}

function warn(msg: string, err: unknown): void {
  console.warn(JSON.stringify({ level: 'warn', msg, error: String(err) }));
}
