/**
 * @module client/wire
 * Tolerant parsing of what the server sends. The protocol promises that servers may
 * add frame types, event types, fields and error codes; a client must keep working.
 * So each frame is checked against its protocol schema when its type is known, an
 * event whose type (or shape) this SDK does not know still moves the seq cursor, and
 * an unknown error code is kept as a string. Nothing is cast without a check.
 */
import { z } from 'zod';
import {
  Ack,
  ConversationEvent,
  ConversationId,
  Cursor,
  DeviceEvent,
  DeviceId,
  FeedReadyFrame,
  PONG_FRAME,
  Rid,
  Seq,
  TypingEventFrame,
  UserId,
  parseBoundedJson,
  type ErrorBody,
  type TypingSignalFrame,
} from '../protocol/index.js';

/**
 * One event off the wire. `event` is the typed event when this SDK understands it, or
 * null when it does not (a newer type, or a newer shape of a known one); the client
 * then skips it for the app but still advances past `seq`.
 */
export interface IncomingEvent {
  seq: number;
  type: string;
  event: ConversationEvent | null;
}

/** An error as the server sent it; `code` may be one this SDK does not know. */
export interface WireError {
  code: string;
  message: string;
  issues?: ErrorBody['issues'];
  retryAfterMs?: number;
}

export type IncomingFrame =
  | { type: 'ready'; conversationId: string; userId: string; deviceId: string; lastSeq: number }
  | { type: 'ack'; rid?: string; ack: Ack }
  | { type: 'events'; conversationId: string; events: IncomingEvent[] }
  | { type: 'history'; rid?: string; conversationId: string; events: IncomingEvent[]; hasMore: boolean; lastSeq: number }
  | { type: 'error'; rid?: string; cmid?: string; error: WireError }
  | { type: 'pong' }
  /** A frame that is not JSON, or a type this SDK does not know: ignore it. */
  | { type: 'unknown' };

const LooseEvent = z.looseObject({ seq: Seq, type: z.string() });

const Issues = z.array(z.object({ path: z.array(z.union([z.string(), z.number()])), message: z.string() }));

export const WireErrorSchema = z.object({
  code: z.string().min(1).max(64),
  message: z.string(),
  issues: Issues.optional(),
  retryAfterMs: z.number().nonnegative().optional(),
});

const Ready = z.object({ conversationId: ConversationId, userId: UserId, deviceId: DeviceId, lastSeq: Seq });
const EventsBody = z.object({ conversationId: ConversationId, events: z.array(z.unknown()) });
const HistoryBody = EventsBody.extend({ hasMore: z.boolean(), lastSeq: Seq, rid: Rid.optional() });
const Names = z.object({ rid: Rid.optional(), cmid: z.string().optional() });

/** Events in wire order; entries without even a numeric `seq` cannot be placed and are dropped. */
export function parseEvents(raw: readonly unknown[]): IncomingEvent[] {
  const out: IncomingEvent[] = [];
  for (const item of raw) {
    const loose = LooseEvent.safeParse(item);
    if (!loose.success) continue;
    const known = ConversationEvent.safeParse(item);
    out.push({ seq: loose.data.seq, type: loose.data.type, event: known.success ? known.data : null });
  }
  return out;
}

/** A history page (HTTP or socket), tolerantly; null if it does not look like one. */
export function parseHistoryPage(value: unknown): Extract<IncomingFrame, { type: 'history' }> | null {
  const page = HistoryBody.safeParse(value);
  if (!page.success) return null;
  const { events, ...rest } = page.data;
  const frame: Extract<IncomingFrame, { type: 'history' }> = { type: 'history', ...rest, events: parseEvents(events) };
  if (frame.rid === undefined) delete frame.rid;
  return frame;
}

/** Parses one server text frame; never throws. */
export function parseServerFrame(text: string): IncomingFrame {
  if (text === PONG_FRAME) return { type: 'pong' };
  const value = parseObject(text);
  return value ? serverFrameOf(value) : { type: 'unknown' };
}

/** The parsed JSON when it is an object (or array), else null. */
function parseObject(text: string): Record<string, unknown> | null {
  const parsed = parseBoundedJson(text, Number.MAX_SAFE_INTEGER);
  return parsed.ok && parsed.value !== null && typeof parsed.value === 'object' ? (parsed.value as Record<string, unknown>) : null;
}

function serverFrameOf(value: Record<string, unknown>): IncomingFrame {
  switch (value.type) {
    case 'pong':
      return { type: 'pong' };
    case 'ready': {
      const ready = Ready.safeParse(value);
      return ready.success ? { type: 'ready', ...ready.data } : { type: 'unknown' };
    }
    case 'ack': {
      const ack = Ack.safeParse(value);
      const names = Names.safeParse(value);
      if (!ack.success) return { type: 'unknown' };
      return names.success && names.data.rid ? { type: 'ack', rid: names.data.rid, ack: ack.data } : { type: 'ack', ack: ack.data };
    }
    case 'events': {
      const body = EventsBody.safeParse(value);
      return body.success ? { type: 'events', conversationId: body.data.conversationId, events: parseEvents(body.data.events) } : { type: 'unknown' };
    }
    case 'history':
      return parseHistoryPage(value) ?? { type: 'unknown' };
    case 'error': {
      const error = WireErrorSchema.safeParse(value);
      const names = Names.safeParse(value);
      const body: WireError = error.success ? error.data : { code: 'invalid_response', message: 'The server sent an unreadable error.' };
      const frame: IncomingFrame = { type: 'error', error: body };
      if (names.success && names.data.rid) frame.rid = names.data.rid;
      if (names.success && names.data.cmid) frame.cmid = names.data.cmid;
      return frame;
    }
    default:
      return { type: 'unknown' };
  }
}

// ── The device event stream (inbox socket, SSE, long polling) ──────────────────

/** One device event off the wire; `event` is null for a kind this SDK does not know (its cursor still counts). */
export interface IncomingDeviceEvent {
  cursor: number;
  event: DeviceEvent | null;
}

export type IncomingInboxFrame =
  | { type: 'inbox_ready'; ackedCursor: number; lastCursor: number }
  | { type: 'deliver'; events: IncomingDeviceEvent[] }
  | { type: 'caught_up'; cursor: number }
  | { type: 'queue_truncated'; resumeCursor: number }
  | { type: 'activity'; conversationId: string; lastSeq: number }
  | { type: 'error'; error: WireError }
  | { type: 'unknown' };

const LooseDeviceEvent = z.looseObject({ cursor: Cursor });

/** Device events in wire order, tolerantly; entries without a cursor cannot be placed and are dropped. */
export function parseDeviceEvents(raw: readonly unknown[]): IncomingDeviceEvent[] {
  const out: IncomingDeviceEvent[] = [];
  for (const item of raw) {
    const loose = LooseDeviceEvent.safeParse(item);
    if (!loose.success) continue;
    const known = DeviceEvent.safeParse(item);
    out.push({ cursor: loose.data.cursor, event: known.success ? known.data : null });
  }
  return out;
}

const InboxReady = z.object({ ackedCursor: Cursor, lastCursor: Cursor });
const Deliver = z.object({ events: z.array(z.unknown()) });
const CaughtUp = z.object({ cursor: Cursor });
const Truncated = z.object({ resumeCursor: Cursor });
const Activity = z.object({ conversationId: ConversationId, lastSeq: Seq });

/** Parses one device-stream frame (a socket text frame or an SSE message's data); never throws. */
export function parseInboxFrame(text: string): IncomingInboxFrame {
  const parsed = parseBoundedJson(text, Number.MAX_SAFE_INTEGER);
  if (!parsed.ok || parsed.value === null || typeof parsed.value !== 'object') return { type: 'unknown' };
  const value = parsed.value as Record<string, unknown>;
  switch (value.type) {
    case 'inbox_ready': {
      const ready = InboxReady.safeParse(value);
      return ready.success ? { type: 'inbox_ready', ...ready.data } : { type: 'unknown' };
    }
    case 'deliver': {
      const body = Deliver.safeParse(value);
      return body.success ? { type: 'deliver', events: parseDeviceEvents(body.data.events) } : { type: 'unknown' };
    }
    case 'caught_up': {
      const body = CaughtUp.safeParse(value);
      return body.success ? { type: 'caught_up', cursor: body.data.cursor } : { type: 'unknown' };
    }
    case 'queue_truncated': {
      const body = Truncated.safeParse(value);
      return body.success ? { type: 'queue_truncated', resumeCursor: body.data.resumeCursor } : { type: 'unknown' };
    }
    case 'activity': {
      const body = Activity.safeParse(value);
      return body.success ? { type: 'activity', ...body.data } : { type: 'unknown' };
    }
    case 'error': {
      const error = WireErrorSchema.safeParse(value);
      return { type: 'error', error: error.success ? error.data : { code: 'invalid_response', message: 'The server sent an unreadable error.' } };
    }
    default:
      return { type: 'unknown' };
  }
}

// ── Typing ─────────────────────────────────────────────────────────────────────

/** Someone else started or stopped typing; a start ends by itself after `expiresInMs`. */
export interface TypingSignal {
  userId: string;
  deviceId: string;
  state: 'start' | 'stop';
  expiresInMs?: number;
}

/** A `typing` frame (a chat window's or a feed's) as the app gets it. */
export function typingSignalOf(frame: TypingSignalFrame): TypingSignal {
  const { userId, deviceId, state, expiresInMs } = frame;
  return expiresInMs === undefined ? { userId, deviceId, state } : { userId, deviceId, state, expiresInMs };
}

/** A long-poll answer, tolerantly; null if it does not look like one. */
export function parsePollPage(value: unknown): { events: IncomingDeviceEvent[]; lastCursor: number; truncated: boolean } | null {
  const page = z.object({ events: z.array(z.unknown()), lastCursor: Cursor, truncated: z.boolean() }).safeParse(value);
  return page.success ? { ...page.data, events: parseDeviceEvents(page.data.events) } : null;
}

// ── A conversation's feed (SSE) ────────────────────────────────────────────────

export type IncomingFeedFrame =
  | { type: 'feed_ready'; conversationId: string; lastSeq: number }
  | { type: 'typing'; conversationId: string; typing: TypingSignal }
  | Extract<IncomingFrame, { type: 'events' | 'error' | 'unknown' }>;

/**
 * Parses one SSE message of a conversation's feed (`FeedFrame`); never throws. Its
 * `events`, `typing` and `error` frames are the chat window's, read as tolerantly as
 * there: an event of a newer type still moves the seq, an unknown error code is kept.
 */
export function parseFeedFrame(text: string): IncomingFeedFrame {
  const value = parseObject(text);
  if (value?.type === 'feed_ready') {
    const ready = FeedReadyFrame.safeParse(value);
    return ready.success ? ready.data : { type: 'unknown' };
  }
  if (value?.type === 'typing') {
    const typing = TypingEventFrame.safeParse(value);
    return typing.success ? { type: 'typing', conversationId: typing.data.conversationId, typing: typingSignalOf(typing.data) } : { type: 'unknown' };
  }
  if (value?.type !== 'events' && value?.type !== 'error') return { type: 'unknown' };
  const frame = serverFrameOf(value);
  return frame.type === 'events' || frame.type === 'error' ? frame : { type: 'unknown' };
}
