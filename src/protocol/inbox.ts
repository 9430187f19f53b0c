/**
 * @module protocol/inbox
 * The inbox: one stream of device events per device, carrying what happens in all of the
 * user's conversations. The same stream is served over the inbox WebSocket and can be
 * served over Server-Sent Events and long polling: every device event carries its
 * `cursor` (increasing, per user), a client resumes after the last cursor it has and
 * acknowledges by cursor; acknowledged events are removed from its queue.
 */
import { z } from 'zod';
import { ConversationEvent, ConversationKind, Role } from './events.js';
import { ConversationId, DeviceId, Seq, UserId } from './ids.js';
import { ErrorFrame, PING_FRAME, PONG_FRAME } from './frames.js';

export { PING_FRAME, PONG_FRAME };

export const Cursor = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A new event in one of the user's conversations (small conversations only: fan-out on write). */
export const ConversationDeviceEvent = z.object({
  kind: z.literal('event'),
  cursor: Cursor,
  conversationId: ConversationId,
  event: ConversationEvent,
});

/** The user joined, left or changed role in a conversation (role null: no longer a member). */
export const MembershipDeviceEvent = z.object({
  kind: z.literal('membership'),
  cursor: Cursor,
  conversationId: ConversationId,
  conversationKind: ConversationKind,
  title: z.string().nullable(),
  peerId: UserId.nullable(),
  role: Role.nullable(),
  seq: Seq,
  /** End-to-end encrypted (fixed at creation). */
  encrypted: z.boolean().optional(),
});

/**
 * For this device only: its stock of one-time prekeys of a kind fell below
 * `E2EE.lowPreKeyThreshold` after claims; upload more (`POST /v1/keys/prekeys`).
 */
export const PreKeysLowDeviceEvent = z.object({
  kind: z.literal('prekeys_low'),
  cursor: Cursor,
  oneTimePreKeys: z.number().int(),
  pqOneTimePreKeys: z.number().int(),
});

/**
 * Not every device event belongs to a conversation: `prekeys_low` is the device's own.
 * Clients ignore kinds they do not know (and still move their cursor past them).
 */
export const DeviceEvent = z.discriminatedUnion('kind', [ConversationDeviceEvent, MembershipDeviceEvent, PreKeysLowDeviceEvent]);
export type DeviceEvent = z.infer<typeof DeviceEvent>;

/** What `readEvents` returns, and what SSE and long polling carry. */
export const DeviceEventPage = z.object({
  events: z.array(DeviceEvent),
  /**
   * The highest cursor that exists now. More events may be waiting when it is past the last
   * one returned; or the cursors between were another device's own (`prekeys_low`).
   */
  lastCursor: Cursor,
  /**
   * Set when events this device had not acknowledged were dropped (retention or queue
   * size): it must catch up from conversation history. Reading on from here is safe.
   */
  truncated: z.boolean(),
});
export type DeviceEventPage = z.infer<typeof DeviceEventPage>;

// ── Client → server (strict) ───────────────────────────────────────────────────

/** Everything up to and including `cursor` has been received: remove it from this device's queue. */
export const InboxAckFrame = z.strictObject({ type: z.literal('ack'), cursor: Cursor });

export const InboxClientFrame = z.discriminatedUnion('type', [InboxAckFrame]);
export type InboxClientFrame = z.infer<typeof InboxClientFrame>;
export const INBOX_CLIENT_FRAME_TYPES = ['ack'] as const;

// ── HTTP: Server-Sent Events, long polling, acks ───────────────────────────────

const CursorParam = z.coerce.number().pipe(Cursor);

/** `GET /v1/inbox/events?cursor=`: resume after `cursor` (or the `Last-Event-ID` header, which wins). */
export const InboxStreamQuery = z.strictObject({ cursor: CursorParam.optional() });

/**
 * `GET /v1/inbox/poll?cursor=&timeoutMs=`: `cursor` acknowledges everything up to it and
 * asks for what follows; `timeoutMs` shortens the hold (at most INBOX.longPollMs).
 */
export const InboxPollQuery = z.strictObject({
  cursor: CursorParam.optional(),
  timeoutMs: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

/** `POST /v1/inbox/ack`: the same meaning as the socket's `ack` frame. */
export const InboxAckBody = z.strictObject({ cursor: Cursor });
export const InboxAckResponse = z.object({ cursor: Cursor });

// ── Server → client ────────────────────────────────────────────────────────────

/** First frame: the backlog (everything after `ackedCursor`) follows, then `caught_up`. */
export const InboxReadyFrame = z.object({
  type: z.literal('inbox_ready'),
  userId: UserId,
  deviceId: DeviceId,
  ackedCursor: Cursor,
  lastCursor: Cursor,
});

/** Device events in cursor order: the backlog first, then live ones. */
export const DeliverFrame = z.object({ type: z.literal('deliver'), events: z.array(DeviceEvent) });

/** The backlog has been sent; what follows is live. */
export const CaughtUpFrame = z.object({ type: z.literal('caught_up'), cursor: Cursor });

/**
 * Sent before the backlog when events this device had not acknowledged were dropped
 * (offline longer than the retention, or too many queued): catch up from each
 * conversation's history (`GET /v1/conversations`, then `events?after=`).
 */
export const QueueTruncatedFrame = z.object({
  type: z.literal('queue_truncated'),
  /** The queue resumes after this cursor. */
  resumeCursor: Cursor,
  message: z.string(),
});

/**
 * Large conversations (fan-out on read) send no events to inboxes, only this coalesced
 * hint: there is activity up to `lastSeq`. Not queued; the conversation list has the
 * current state.
 */
export const ActivityFrame = z.object({
  type: z.literal('activity'),
  conversationId: ConversationId,
  lastSeq: Seq,
  ts: z.number().int(),
});

export type ActivityFrame = z.infer<typeof ActivityFrame>;

export const InboxFrame = z.discriminatedUnion('type', [
  InboxReadyFrame,
  DeliverFrame,
  CaughtUpFrame,
  QueueTruncatedFrame,
  ActivityFrame,
  ErrorFrame,
]);
export type InboxFrame = z.infer<typeof InboxFrame>;
