/**
 * @module user/UserDO
 * One object per user: the shell of RPC methods and runtime hooks over the modules that
 * own each responsibility. What it owns, and where that lives:
 *
 * | responsibility | module |
 * | --- | --- |
 * | device standing (signed in? which tier?), account facts | ./devices.ts |
 * | the device event stream, its held reads | ./events.ts, ./queues.ts |
 * | updates from conversations into the inbox and queues | ./apply.ts, ./inbox.ts |
 * | inbox sockets (one per device) | ./inbox-sockets.ts |
 * | presence: online, relays, who may see it | ./presence-relay.ts, ./presence.ts |
 * | blocks, and passing them to conversations | ./blocks.ts, ./outbox.ts |
 * | the per-user send allowance (leases) | ./leases.ts, ./allowance.ts |
 * | push notifications while offline | ./notifier.ts |
 * | the key directory (end-to-end encryption): keys, claims, the device list's version | ./keys.ts, ./outbox.ts |
 *
 * Conversations feed it through their durable outboxes; applying an update is idempotent,
 * so a retried delivery changes nothing twice. About 500 lines: each RPC method is the few
 * lines of its runtime contract (request ids, transactions, wake-ups) over the module that
 * owns the logic; the table above is where the logic lives.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env.js';
import { migrate } from '../storage/migrate.js';
import { AppError, attempt, fail, ok, unwrap, type Result } from '../errors.js';
import {
  CLOSE_CODES,
  PING_FRAME,
  PONG_FRAME,
  carriesEnvelope,
  perDeviceEncoder,
  type ClaimedKeys,
  type ConversationSummary,
  type DeviceEvent,
  type DeviceEventPage,
  type DeviceList,
  type InboxFrame,
  type KeyStatus,
  type KeyUploadBody,
  type PreKeyBatchBody,
  type Presence,
  type PresenceSettings,
} from '../protocol/index.js';
import { INBOX, PRESENCE } from '../limits.js';
import { answerClose, closeQuietly, upgradeIdentity } from '../objects/sockets.js';
import { AlarmClock, earliest } from '../objects/alarm.js';
import { directConversationId } from '../ids.js';
import { REQUEST_ID_HEADER, log, reason, withRequestId, type Trace } from '../log.js';
import { record } from '../metrics.js';
import type { LeaseGrant, LeaseRequest } from '../ratelimit/allowance.js';
import { USER_MIGRATIONS } from './schema.js';
import { UserStore } from './store.js';
import { Devices, type Standing } from './devices.js';
import { EventStream, REVOKED } from './events.js';
import { InboxSockets } from './inbox-sockets.js';
import { PresenceRelay } from './presence-relay.js';
import { ConversationOutbox } from './outbox.js';
import { Leases } from './leases.js';
import { Notifier } from './notifier.js';
import { DeliveredReports } from './delivered.js';
import { DeviceKeys, type LowStock } from './keys.js';
import { applyUpdates, type ActivityHint } from './apply.js';
import type { UserUpdate } from './updates.js';
import * as inbox from './inbox.js';
import * as queues from './queues.js';
import * as presence from './presence.js';
import * as blocks from './blocks.js';
import * as tickets from './tickets.js';
import { conversationStub } from '../placement.js';

export class UserDO extends DurableObject<Env> {
  private readonly store: UserStore;
  private readonly clock: AlarmClock;
  private readonly devices: Devices;
  private readonly stream: EventStream;
  private readonly sockets: InboxSockets;
  private readonly relay: PresenceRelay;
  private readonly outbox: ConversationOutbox;
  private readonly leases: Leases;
  private readonly notifier: Notifier;
  private readonly delivered: DeliveredReports;
  private readonly keys: DeviceKeys;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx.storage, USER_MIGRATIONS);
    // Heartbeats are answered by the runtime, which records when: see checkHeartbeats.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
    const wakeAt = (at: number) => this.clock.arm(at);
    this.store = new UserStore(ctx);
    this.clock = new AlarmClock(ctx.storage);
    this.devices = new Devices(this.store, env.DB, (ids) => ctx.waitUntil(Promise.all(ids.map((id) => this.endWires(id)))));
    this.stream = new EventStream(this.store, this.devices);
    this.sockets = new InboxSockets(ctx, this.devices, this.stream);
    this.relay = new PresenceRelay(this.store, env, (leaving) => this.sockets.open(leaving).length > 0 || this.stream.hasHttpReaders, wakeAt);
    this.outbox = new ConversationOutbox(this.store, env, wakeAt);
    this.leases = new Leases(this.store, env);
    this.notifier = new Notifier(this.store, env);
    this.keys = new DeviceKeys(this.store);
    this.delivered = new DeliveredReports(async (conversationId, seq) => {
      try {
        await conversationStub(env, conversationId).markDelivered(this.store.userId, seq);
      } catch (err) {
        log.warn('delivered_report_failed', { userId: this.store.userId, conversationId, reason: reason(err) });
      }
    });
  }

  // ── RPC: device standing ─────────────────────────────────────────────────────

  /** Whether the device is signed in, and the account's tier: from this object's storage (D1 only to import or refresh). */
  async standing(deviceId: string, trace: Trace = {}): Promise<Standing> {
    return withRequestId(trace.rid, () => this.devices.standing(deviceId));
  }

  /**
   * Spends a connect ticket of `deviceId` (src/user/tickets.ts): the device's standing if it
   * may connect, else why not. The ticket's signature was checked by the Worker.
   */
  async redeemTicket(deviceId: string, nonce: string, expiresAt: number): Promise<Result<Standing>> {
    const standing = await this.devices.standing(deviceId);
    if (!standing.active) return fail('device_revoked', REVOKED);
    if (!tickets.spend(this.store, nonce, expiresAt, Date.now())) return fail('invalid_ticket', 'The connect ticket is unknown, used or expired; ask for a new one.');
    return ok(standing);
  }

  /** A device was made (register, login). */
  async addDevice(deviceId: string, createdAt: number): Promise<void> {
    this.devices.add(deviceId, createdAt);
  }

  /**
   * The device was signed out (src/auth/standing.ts signOutDevice, after D1): it is
   * revoked here, its inbox socket closes (4004), its held reads end and refuse, and every
   * conversation of the user closes its chat windows and feeds (retried until they have).
   */
  async forgetDevice(deviceId: string): Promise<void> {
    this.devices.revoke(deviceId, Date.now());
    await this.endWires(deviceId);
  }

  /** A report against this user was stored: counts toward a demotion now. */
  async noteReport(reporterId: string, at: number): Promise<void> {
    this.devices.noteReport(reporterId, at);
  }

  // ── RPC: the key directory (./keys.ts) ───────────────────────────────────────

  /**
   * `PUT /v1/keys` for the calling device. Its first upload adds it to the device list
   * (the version grows, and each encrypted conversation of the user hears of it: ./outbox.ts).
   */
  async uploadKeys(deviceId: string, body: KeyUploadBody, trace: Trace = {}): Promise<Result<KeyStatus>> {
    return withRequestId(trace.rid, () =>
      this.changeKeys(deviceId, (now) => {
        const version = this.keys.upload(deviceId, body, now);
        if (version !== null) this.outbox.queueDevicesChanged(inbox.encryptedMemberOf(this.store.sql), deviceId, version, now);
      }),
    );
  }

  /** `POST /v1/keys/prekeys` for the calling device. */
  async addPreKeys(deviceId: string, body: PreKeyBatchBody): Promise<Result<KeyStatus>> {
    return this.changeKeys(deviceId, () => this.keys.addPreKeys(deviceId, body));
  }

  async keyStatus(deviceId: string): Promise<Result<KeyStatus>> {
    return attempt(() => this.keys.status(deviceId));
  }

  /**
   * The user's devices with keys as `viewerId` may see them: someone this user blocked is
   * told the user does not exist (as for an id nobody has).
   */
  async deviceList(viewerId: string): Promise<Result<DeviceList>> {
    if (this.hides(viewerId)) return fail('user_not_found', 'No such user.');
    return ok({ userId: this.store.userId, version: this.keys.version(), devices: this.keys.list((id) => this.devices.isActive(id)) });
  }

  /**
   * A bundle for each of the user's devices with keys (or those named), for `viewerId` to
   * start sessions with: each one-time prekey is handed out once (the claim is one
   * synchronous transaction: concurrent claims never share a key). A device whose stock
   * just fell low is told, by an event for it alone.
   */
  async claimKeys(viewerId: string, deviceIds?: string[], trace: Trace = {}): Promise<Result<ClaimedKeys>> {
    return withRequestId(trace.rid, () => {
      if (this.hides(viewerId)) return fail('user_not_found', 'No such user.');
      const { bundles, low } = this.store.transaction(() => this.keys.claim(deviceIds, (id) => this.devices.isActive(id), Date.now()));
      for (const stock of low) this.pushToDevice(stock);
      return ok({ userId: this.store.userId, version: this.keys.version(), bundles });
    });
  }

  /**
   * Deletes signed prekeys whose grace after a rotation has passed (E2EE.signedPreKeyGraceMs);
   * returns how many. Run by the alarm; `now` is a parameter so the bound can be checked
   * without waiting for it.
   */
  async pruneKeys(now: number = Date.now()): Promise<number> {
    return this.keys.pruneRetired(now);
  }

  // ── RPC: updates from conversations ──────────────────────────────────────────

  /**
   * Applies updates from a conversation, in order, each at most once. `trace.rid` is the
   * request id of what caused them (a send): it goes on this object's log lines for the
   * work and on the push job it queues (src/log.ts).
   */
  async apply(updates: UserUpdate[], trace: { rid?: string } = {}): Promise<void> {
    return withRequestId(trace.rid, () => this.applyNow(updates));
  }

  private applyNow(updates: UserUpdate[]): void {
    const now = Date.now();
    const { events, hints, blocksQueued } = this.store.transaction(() => {
      const applied = applyUpdates(this.store.sql, this.store.userId, updates, now);
      const queued = applied.joined.filter((id) => this.outbox.queueJoined(id, now));
      return { ...applied, blocksQueued: queued.length > 0 };
    });
    if (blocksQueued) this.ctx.waitUntil(this.outbox.drain());
    if (events.length > 0) record(this.env, { kind: 'queue', queue: 'device_queue', depth: queues.deepest(this.store.sql) });
    // Events that reached no live device wait in the queues; tell the user's devices by
    // Web Push, off the fan-out path (a push service can be slow).
    if (this.pushLive(events, hints) === 0 && events.length > 0) this.ctx.waitUntil(this.notifier.notifyOffline(events));
  }

  // ── RPC: the device event stream (SSE and long polling; the socket is below) ─

  /** The device's events after `afterCursor` (and after what it acknowledged), in order. Reading does not acknowledge. */
  async readEvents(deviceId: string, afterCursor: number, limit: number = INBOX.maxEventsPerRead): Promise<Result<DeviceEventPage>> {
    await this.devices.ensureKnown(deviceId);
    return this.stream.read(deviceId, afterCursor, limit);
  }

  /** Like readEvents, but when nothing is waiting holds until something arrives, the device is revoked, or `timeoutMs` passes. */
  async waitForEvents(deviceId: string, afterCursor: number, timeoutMs: number = INBOX.longPollMs): Promise<Result<DeviceEventPage>> {
    await this.devices.ensureKnown(deviceId);
    if (!this.devices.isActive(deviceId)) return fail('device_revoked', REVOKED);
    const now = Date.now();
    if (this.stream.seen(deviceId, now)) await this.deviceReading(now);
    return this.stream.wait(deviceId, afterCursor, timeoutMs);
  }

  /** The device has everything up to `cursor`: it leaves the device's queue. */
  async ackEvents(deviceId: string, cursor: number): Promise<Result<{ cursor: number }>> {
    await this.devices.ensureKnown(deviceId);
    const acked = this.stream.ack(deviceId, cursor);
    if (!acked.ok) return acked;
    // A message counts as delivered to this user once one of their devices has it.
    const { delivered } = acked.value;
    if (delivered.length > 0) this.ctx.waitUntil(Promise.all(delivered.map(([id, seq]) => this.delivered.report(id, seq))));
    return ok({ cursor: acked.value.cursor });
  }

  // ── RPC: blocks ──────────────────────────────────────────────────────────────

  async blockedIds(): Promise<string[]> {
    return blocks.list(this.store.sql).map((b) => b.userId);
  }

  async isBlocking(userId: string): Promise<boolean> {
    return blocks.isBlocked(this.store.sql, userId);
  }

  async listBlocks(): Promise<{ userId: string; blockedAt: number }[]> {
    return blocks.list(this.store.sql);
  }

  /**
   * Blocks or unblocks `userId`, and passes the whole new list to every conversation of the
   * user and to the direct conversation of the two (even if it is not in the list). Resolves
   * once those calls were tried; any that failed are retried by the alarm until they land.
   */
  async setBlock(userId: string, on: boolean, trace: Trace = {}): Promise<Result<void>> {
    return withRequestId(trace.rid, () => this.block(userId, on));
  }

  private async block(userId: string, on: boolean): Promise<Result<void>> {
    const direct = await directConversationId(this.store.userId, userId);
    const directEncrypted = await directConversationId(this.store.userId, userId, true);
    const now = Date.now();
    const changed = this.store.transaction(() =>
      attempt(() => {
        if (on) blocks.block(this.store.sql, userId, now);
        else blocks.unblock(this.store.sql, userId);
        this.outbox.queueBlocks([...new Set([...inbox.memberOf(this.store.sql), direct, directEncrypted])], now);
      }),
    );
    if (changed.ok) await this.outbox.drain();
    return changed;
  }

  // ── RPC: the conversation list ───────────────────────────────────────────────

  /** The user's current conversations, most recent activity first; large ones (fan-out on read) are asked for their state. */
  async listConversations(trace: Trace = {}): Promise<ConversationSummary[]> {
    return withRequestId(trace.rid, () => this.conversations());
  }

  private async conversations(): Promise<ConversationSummary[]> {
    const summaries = await Promise.all(
      inbox.list(this.store.sql).map(async ({ summary, onRead }) => {
        if (!onRead) return summary;
        try {
          const fresh = await conversationStub(this.env, summary.id).inboxState(this.store.userId, summary.readSeq);
          return fresh.ok ? { ...summary, ...fresh.value } : summary;
        } catch (err) {
          // The hints already in the row are a fair answer when the conversation is unreachable.
          log.warn('inbox_state_failed', { userId: this.store.userId, conversationId: summary.id, reason: reason(err) });
          return summary;
        }
      }),
    );
    return summaries.sort(inbox.byActivity);
  }

  // ── RPC: presence ────────────────────────────────────────────────────────────

  /** For a presence query by this user: the conversations they are in, and whom they blocked. */
  async presenceViewer(): Promise<{ conversationIds: string[]; blockedIds: string[] }> {
    return { conversationIds: inbox.memberOf(this.store.sql), blockedIds: blocks.list(this.store.sql).map((b) => b.userId) };
  }

  /**
   * This user's presence as `viewerId` may see it (./presence-relay.ts: only people who
   * share a conversation, never someone blocked). Without a viewer: as it is (for tests
   * and the user's own objects).
   */
  async presence(viewerId?: string, viewerConversationIds: string[] = []): Promise<Presence> {
    return viewerId === undefined ? this.relay.snapshot() : this.relay.visibleTo(viewerId, viewerConversationIds);
  }

  async setPresenceSettings(settings: PresenceSettings): Promise<Presence> {
    presence.setHideLastSeen(this.store.sql, settings.hideLastSeen);
    return this.relay.snapshot();
  }

  /** A conversation with an open chat window wants this user's presence changes until `expiresAt`. */
  async subscribePresence(conversationId: string, expiresAt: number): Promise<Presence> {
    presence.subscribe(this.store.sql, conversationId, Math.min(expiresAt, Date.now() + PRESENCE.subscriptionTtlMs));
    return this.relay.snapshot();
  }

  /**
   * Closes inbox sockets silent for longer than PRESENCE.staleAfterMs, forgets HTTP
   * readers gone as long, and updates presence; returns how many sockets closed. Run by
   * the alarm; `now` is a parameter so the bound can be checked without waiting for it.
   */
  async checkHeartbeats(now: number = Date.now()): Promise<number> {
    this.stream.pruneReaders(now, presence.isStale);
    const stale = this.sockets.closeStale(now);
    await this.relay.mayHaveChanged(now, stale);
    return stale.length;
  }

  // ── RPC: abuse control and push ──────────────────────────────────────────────

  /** A conversation asks for a lease of this user's message allowance (./leases.ts). */
  async leaseSends(request: LeaseRequest): Promise<LeaseGrant> {
    return this.leases.lease(request);
  }

  /** From the push routes: a subscription of this user was saved or deleted in D1. */
  async pushSubscriptionsChanged(): Promise<void> {
    this.notifier.subscriptionsChanged();
  }

  // ── Runtime hooks: the inbox socket and the alarm ────────────────────────────

  /** Accepts an inbox socket the Worker authenticated; standing is checked again here. */
  /** The inbox socket's upgrade, forwarded by the Worker with its request id (src/routes/upgrade.ts). */
  override async fetch(request: Request): Promise<Response> {
    return withRequestId(request.headers.get(REQUEST_ID_HEADER) ?? undefined, () => this.upgrade(request));
  }

  private async upgrade(request: Request): Promise<Response> {
    const identity = upgradeIdentity(request);
    if (!identity || identity.userId !== this.store.userId) return new Response('Expected an authenticated WebSocket upgrade.', { status: 426 });
    await this.devices.ensureKnown(identity.deviceId);
    const now = Date.now();
    const response = this.sockets.accept(identity.deviceId, now);
    if (response.webSocket && this.devices.isActive(identity.deviceId)) {
      record(this.env, { kind: 'socket', wire: 'inbox_ws', delta: 1 });
      await this.deviceReading(now);
    }
    return response;
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // Each frame is a request of its own, with its own id on the lines it logs.
    await withRequestId(crypto.randomUUID(), () => this.sockets.message(ws, message, async (deviceId, cursor) => void unwrap(await this.ackEvents(deviceId, cursor))));
  }

  // Open inbox sockets are counted +1 on accept and -1 when the runtime reports the close
  // (src/metrics.ts): approximate, as a socket the runtime drops without a close is not seen.
  override async webSocketClose(ws: WebSocket, code: number, why: string): Promise<void> {
    record(this.env, { kind: 'socket', wire: 'inbox_ws', delta: -1 });
    answerClose(ws, code, why);
    await this.relay.mayHaveChanged(Date.now(), [ws]);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    record(this.env, { kind: 'socket', wire: 'inbox_ws', delta: -1 });
    closeQuietly(ws, CLOSE_CODES.serverError, 'Socket error.');
    await this.relay.mayHaveChanged(Date.now(), [ws]);
  }

  /** The one alarm: heartbeats while online, a coalesced presence relay, the outbox's retries, queue retention. */
  override async alarm(): Promise<void> {
    this.clock.fired();
    const now = Date.now();
    await this.checkHeartbeats(now);
    const pending = this.relay.pendingAt();
    if (pending !== null && pending <= now) await this.relay.relay(now);
    queues.trimExpired(this.store.sql, now);
    this.keys.pruneRetired(now);
    await this.outbox.drain();
    const online = this.sockets.open().length > 0 || this.stream.hasHttpReaders;
    const next = earliest([online ? now + PRESENCE.checkIntervalMs : null, this.relay.pendingAt(), this.outbox.nextDueAt(), this.keys.nextPruneAt()]);
    if (next !== null) await this.clock.arm(next);
  }

  // ── Internals ────────────────────────────────────────────────────────────────

  /** A device started reading (socket or HTTP): presence, the heartbeat alarm, and push bursts end. */
  private async deviceReading(now: number): Promise<void> {
    await this.relay.mayHaveChanged(now);
    await this.clock.arm(now + PRESENCE.checkIntervalMs);
    this.ctx.waitUntil(this.notifier.deviceReading());
  }

  /**
   * Ends every wire of a revoked device: here at once, in its conversations through the
   * outbox. Its keys go in the same step; if it held any, the device list changed and the
   * conversations hear of that too.
   */
  private async endWires(deviceId: string): Promise<void> {
    this.sockets.closeDevice(deviceId, CLOSE_CODES.deviceRevoked, REVOKED);
    this.stream.revoke(deviceId);
    const now = Date.now();
    this.store.transaction(() => {
      this.outbox.queueCloseDevice(inbox.memberOf(this.store.sql), deviceId, now);
      const version = this.keys.remove(deviceId);
      if (version !== null) this.outbox.queueDevicesChanged(inbox.encryptedMemberOf(this.store.sql), deviceId, version, now);
    });
    await this.relay.mayHaveChanged(now);
    await this.outbox.drain();
  }

  /**
   * A change to the calling device's keys, in one transaction: refused (nothing stored)
   * unless the device is signed in, or when `change` throws. Then the device list's news,
   * if any, goes out to the conversations, and the alarm is set for a retired key's end.
   */
  private async changeKeys(deviceId: string, change: (now: number) => void): Promise<Result<KeyStatus>> {
    await this.devices.ensureKnown(deviceId);
    const now = Date.now();
    const result = attempt(() =>
      this.store.transaction(() => {
        if (!this.devices.isActive(deviceId)) throw new AppError('device_revoked', REVOKED);
        change(now);
        return this.keys.status(deviceId);
      }),
    );
    if (!result.ok) return result;
    const pruneAt = this.keys.nextPruneAt();
    if (pruneAt !== null) await this.clock.arm(pruneAt);
    await this.outbox.drain();
    return result;
  }

  /** Whether `viewerId` is someone this user blocked (their own devices never are). */
  private hides(viewerId: string): boolean {
    return viewerId !== this.store.userId && blocks.isBlocked(this.store.sql, viewerId);
  }

  /** Pushes a device's own events to its socket and wakes its held reads. */
  private pushToDevice({ deviceId, events }: LowStock): void {
    if (events.length === 0) return;
    this.sockets.sendTo(deviceId, [JSON.stringify({ type: 'deliver', events } satisfies InboxFrame)]);
    this.stream.wakeDevice(deviceId);
  }

  /** Pushes new events and hints to every open inbox socket and wakes held reads; returns how many got them (0: no device online). */
  private pushLive(events: DeviceEvent[], hints: ActivityHint[]): number {
    if (events.length === 0 && hints.length === 0) return 0;
    const hintTexts = hints.map((hint) => JSON.stringify({ type: 'activity', ...hint } satisfies InboxFrame));
    const deliver: InboxFrame = { type: 'deliver', events };
    // Envelopes differ per device (each gets its own entry, src/protocol/envelopes.ts): a
    // batch carrying them gets a text per device; anything else one encoding for all.
    const sealed = events.some((e) => e.kind === 'event' && carriesEnvelope(e.event));
    let texts: string[] | ((deviceId: string) => string[]);
    if (sealed) {
      const encode = perDeviceEncoder(deliver);
      const userId = this.store.userId;
      texts = (deviceId) => [encode({ userId, deviceId }), ...hintTexts];
    } else {
      texts = events.length > 0 ? [JSON.stringify(deliver), ...hintTexts] : hintTexts;
    }
    const reached = this.sockets.broadcast(texts);
    return reached + (events.length > 0 ? this.stream.wakeAll() : 0);
  }
}
