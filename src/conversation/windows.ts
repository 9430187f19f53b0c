/**
 * @module conversation/windows
 * The chat windows: hibernatable sockets of clients that have this conversation open.
 * Opening one (the upgrade), what goes out on them (events through the one delivery
 * rule, coalesced under load; receipts, typing, presence), and closing them when their
 * member leaves or their device is signed out.
 *
 * Each socket's attachment (who, which device) survives hibernation; the rest (standing,
 * blocks) is read from the store and the standings at the moment something is sent, so a
 * change made while the socket is open applies to the very next frame.
 */
import type { Env } from '../env.js';
import { AppError, attempt, attemptAsync, ok, type Result } from '../errors.js';
import {
  CLOSE_CODES,
  TYPING,
  carriesEnvelopes,
  perDeviceEncoder,
  type ConversationEvent,
  type ErrorBody,
  type Presence,
  type ServerFrame,
} from '../protocol/index.js';
import { PRESENCE } from '../limits.js';
import { RELAY_HEADER, ReaderAttachments, closeQuietly, deviceTag, makeRoomFor, rejectSocket, sendFrame, sendText, userTag, type ReaderAttachment } from '../objects/sockets.js';
import { record } from '../metrics.js';
import type { SocketIdentity } from '../auth/accounts.js';
import { log } from '../log.js';
import { EventBatcher, intervalMs } from './batcher.js';
import * as blocks from './blocks.js';
import * as eventLog from './log.js';
import { memberCount, memberIds } from './members.js';
import { loadMeta, requireMeta } from './meta.js';
import type { DeviceStandings } from './standing.js';
import type { ConversationStore } from './store.js';
import { admit, admitted, freshViews, hearsFrom, type Reader } from './visibility.js';

export class ChatWindows {
  readonly #attachments = new ReaderAttachments();
  readonly #batcher: EventBatcher;
  /** Until when members' UserDOs send presence changes here (renewed while windows are open). */
  #presenceUntil = 0;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
    private readonly store: ConversationStore,
    private readonly standings: DeviceStandings,
  ) {
    this.#batcher = new EventBatcher((events) => this.writeEvents(events));
  }

  get count(): number {
    return this.ctx.getWebSockets().length;
  }

  /** Whether the user has a window open here (on any device). */
  isOpenFor(userId: string): boolean {
    return this.ctx.getWebSockets(userTag(userId)).length > 0;
  }

  /**
   * Opens a window for a socket the worker authenticated (`admitSocket`), or, in a
   * conversation whose live readers are on relays (./relays.ts), says which relay takes it.
   */
  async open(identity: SocketIdentity, relayFor: (reader: Reader) => Result<number | null>): Promise<Response> {
    const admitted = await this.admitSocket(identity);
    if (!admitted.ok) return refuseSocket(admitted.error);
    const relay = relayFor(admitted.value);
    if (!relay.ok) return refuseSocket(relay.error);
    if (relay.value !== null) return new Response(null, { status: 307, headers: { [RELAY_HEADER]: String(relay.value) } });
    const reader = admitted.value;
    makeRoomFor(this.ctx, reader.deviceId, identity.tier);
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, [userTag(reader.userId), deviceTag(reader.deviceId)]);
    record(this.env, { kind: 'socket', wire: 'chat_ws', delta: 1 });
    this.#attachments.attach(server, reader);
    // Events waiting to be batched go out first: `ready` says how far this socket is.
    this.#batcher.flush();
    sendFrame(server, { type: 'ready', conversationId: requireMeta(this.store).id, ...reader, lastSeq: eventLog.lastSeq(this.store) });
    this.ctx.waitUntil(this.renewPresence());
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * Whether a socket the worker authenticated may be opened, here or on a relay. After a
   * ticket the worker redeemed against the user's object a moment ago, the device's
   * standing comes with the upgrade (`seed`); after a bearer upgrade it is this object's
   * to find out, which may await. Membership and standing are checked after any await (a
   * standing asked for, the member's block list this conversation never got): the member
   * may be removed or the device signed out meanwhile. The caller accepts the socket in
   * the same turn as the answer.
   */
  async admitSocket(identity: SocketIdentity): Promise<Result<Reader>> {
    const reader: Reader = { userId: identity.userId, deviceId: identity.deviceId };
    if (identity.fresh) this.standings.seed(reader, { active: true, tier: identity.tier });
    else {
      // A bearer upgrade: the Worker's standing was from its cache; this object's own (or the UserDO's) decides.
      const standing = await attemptAsync(() => this.standings.require(reader));
      if (!standing.ok) return standing;
    }
    const first = attempt(() => admit(this.store, this.standings, reader));
    if (!first.ok) return first;
    if (!blocks.isKnown(this.store, reader.userId)) {
      await this.syncBlocks(reader.userId);
      const again = attempt(() => admit(this.store, this.standings, reader));
      if (!again.ok) return again;
    }
    return ok(reader);
  }

  /** The member's block list from their UserDO, for a member this conversation never got it for. */
  private async syncBlocks(userId: string): Promise<void> {
    const list = await this.env.USERS.getByName(userId).blockedIds();
    blocks.replace(this.store, userId, list);
  }

  attachmentOf(ws: WebSocket): ReaderAttachment | null {
    return this.#attachments.of(ws);
  }

  // ── What goes out ────────────────────────────────────────────────────────────

  /** Events to every window, as each reader may see them, coalesced under load (./batcher.ts). */
  broadcast(events: ConversationEvent[]): void {
    this.#batcher.add(events, intervalMs(this.count));
  }

  /** Sends the events still waiting to be batched: before any other frame, so order holds. */
  flush(): void {
    this.#batcher.flush();
  }

  /**
   * One `events` frame per socket, encoded once per distinct view: in a plain conversation
   * once for everyone but the few who block someone. An end-to-end encrypted one's
   * envelopes differ per device (each gets its own entry: the rule of `forDevice`), so a
   * batch carrying them gets a text per socket: the batch is encoded once without the
   * entries and each device's own are spliced in (`perDeviceEncoder`; the cost is in
   * docs/PROTOCOL.md, "End-to-end encrypted conversations"). A plain batch pays one check.
   */
  private writeEvents(events: ConversationEvent[]): void {
    const meta = loadMeta(this.store);
    if (!meta) return;
    const views = freshViews(this.store, events);
    if (meta.encrypted && carriesEnvelopes(events)) {
      // Encoded once per distinct view with the entries left out; each socket's text splices in its device's own.
      const encoders = new Map<ConversationEvent[], (reader: Reader) => string>();
      for (const [ws, reader] of this.readers()) {
        const seen = views(reader.userId);
        let encode = encoders.get(seen);
        if (!encode) {
          encode = perDeviceEncoder({ type: 'events', conversationId: meta.id, events: seen } satisfies ServerFrame);
          encoders.set(seen, encode);
        }
        sendText(ws, encode(reader));
      }
      return;
    }
    const texts = new Map<ConversationEvent[], string>();
    for (const [ws, reader] of this.readers()) {
      const seen = views(reader.userId);
      let text = texts.get(seen);
      if (text === undefined) {
        text = JSON.stringify({ type: 'events', conversationId: meta.id, events: seen } satisfies ServerFrame);
        texts.set(seen, text);
      }
      sendText(ws, text);
    }
  }

  /** Any other frame to every window that may have it, after the events still waiting. */
  sendAll(frame: ServerFrame): void {
    this.#batcher.flush();
    const text = JSON.stringify(frame);
    for (const [ws] of this.readers()) sendText(ws, text);
  }

  /** A frame to every window of one member (their own notices, such as a message hidden for them). */
  sendToUser(userId: string, frame: ServerFrame): void {
    this.#batcher.flush();
    const text = JSON.stringify(frame);
    for (const [ws] of this.readers(userId)) sendText(ws, text);
  }

  /**
   * The open windows whose reader may read now, each with its reader. A window whose
   * member left or whose device was signed out gets nothing from the moment it happened,
   * even before `closeUser` or `closeDevice` has closed it.
   */
  private *readers(userId?: string): Generator<[WebSocket, ReaderAttachment]> {
    for (const ws of this.ctx.getWebSockets(userId === undefined ? undefined : userTag(userId))) {
      const reader = this.attachmentOf(ws);
      if (reader && admitted(this.store, this.standings, reader)) yield [ws, reader];
    }
  }

  // ── Typing and presence ──────────────────────────────────────────────────────

  /** `subject` started or stopped typing (./typing.ts): every other window that may hear of it is told. */
  showTyping(subject: Reader, state: 'start' | 'stop', except: WebSocket | null): void {
    const meta = loadMeta(this.store);
    if (!meta) return;
    const frame: ServerFrame = { type: 'typing', conversationId: meta.id, userId: subject.userId, deviceId: subject.deviceId, state };
    if (state === 'start') frame.expiresInMs = TYPING.ttlMs;
    this.#batcher.flush();
    const text = JSON.stringify(frame);
    for (const [ws, reader] of this.readers()) if (ws !== except && hearsFrom(this.store, reader.userId, subject.userId)) sendText(ws, text);
  }

  /**
   * A member's presence change to the windows of those who may see it; false when no
   * window is open, and the member's UserDO then drops the subscription, so the next
   * window to open must subscribe again however recent the last renewal was.
   */
  relayPresence(presence: Presence): boolean {
    if (this.count === 0) {
      this.#presenceUntil = 0;
      return false;
    }
    this.#batcher.flush();
    const text = JSON.stringify({ type: 'presence', ...presence } satisfies ServerFrame);
    for (const [ws, reader] of this.readers()) if (hearsFrom(this.store, reader.userId, presence.userId)) sendText(ws, text);
    return true;
  }

  /** When the presence subscription should be renewed, or null (no window open). */
  presenceRenewalAt(): number | null {
    return this.count > 0 && this.#presenceUntil > 0 ? this.#presenceUntil - PRESENCE.subscriptionTtlMs / 2 : null;
  }

  /**
   * While a window is open, members' UserDOs relay presence changes here (subscriptions
   * expire after PRESENCE.subscriptionTtlMs, so this renews them at half that). Best
   * effort: a failure must not fail the window or the alarm. Never rejects.
   */
  async renewPresence(): Promise<void> {
    const now = Date.now();
    const meta = loadMeta(this.store);
    if (!meta || this.#presenceUntil - now > PRESENCE.subscriptionTtlMs / 2 || memberCount(this.store) > PRESENCE.maxMembers) return;
    const until = now + PRESENCE.subscriptionTtlMs;
    this.#presenceUntil = until;
    const ids = memberIds(this.store);
    const results = await Promise.allSettled(ids.map((id) => this.env.USERS.getByName(id).subscribePresence(meta.id, until)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (failed > 0) log.warn('presence_subscriptions_failed', { conversationId: meta.id, failed, of: ids.length });
  }

  // ── Closing ──────────────────────────────────────────────────────────────────

  /** Closes every window of a device (signed out). */
  closeDevice(userId: string, deviceId: string): number {
    let closed = 0;
    for (const ws of this.ctx.getWebSockets(userTag(userId))) {
      if (this.attachmentOf(ws)?.deviceId !== deviceId) continue;
      closeQuietly(ws, CLOSE_CODES.deviceRevoked, 'This device has been signed out.');
      closed++;
    }
    return closed;
  }

  /**
   * Closes every window of a member who is no longer one. Their own removal is the last
   * thing they get (the broadcast, which now refuses them, did not carry it to them).
   */
  closeUser(userId: string, removal: ConversationEvent): void {
    const meta = loadMeta(this.store);
    const text = meta ? JSON.stringify({ type: 'events', conversationId: meta.id, events: [removal] } satisfies ServerFrame) : null;
    for (const ws of this.ctx.getWebSockets(userTag(userId))) {
      if (text) sendText(ws, text);
      closeQuietly(ws, CLOSE_CODES.forbidden, 'You are no longer a member of this conversation.');
    }
  }
}

/** A refused socket, as browsers can see it: signed out, full for now, or (anything else) not a member. */
export function refuseSocket(error: ErrorBody): Response {
  if (error.code === 'device_revoked') return rejectSocket({ code: 'device_revoked', message: 'This device has been signed out.' }, CLOSE_CODES.deviceRevoked);
  if (error.code === 'rate_limited') return rejectSocket(error, CLOSE_CODES.tryAgainLater);
  return rejectSocket({ code: 'conversation_not_found', message: 'No such conversation, or you are not a member.' }, CLOSE_CODES.forbidden);
}
