/**
 * @module protocol/frames
 * WebSocket frames. Every frame is a JSON object with a `type`.
 *
 * Client→server frames are strict: unknown fields are rejected, so nothing a client
 * invents is ever stored. Server→client frames may gain fields and types over time;
 * clients ignore what they do not understand.
 *
 * Keepalive: the client sends the exact text `{"type":"ping"}` and the server answers
 * `{"type":"pong"}` without waking a hibernated object (a WebSocket auto-response).
 */
import { z } from 'zod';
import { LIMITS } from './limits.js';
import { Ack, ConversationEvent, MessageContent } from './events.js';
import { Cmid, ConversationId, DeviceId, Rid, Seq, UserId, isOpaque } from './ids.js';
import { ERROR_CODES, describeIssues, type ErrorBody } from './errors.js';
import { parseBoundedJson } from './json.js';
import { codePointLength } from './text.js';

export const PING_FRAME = '{"type":"ping"}';
export const PONG_FRAME = '{"type":"pong"}';

/**
 * Socket authentication without a ticket: a client offers two subprotocols,
 * `Sec-WebSocket-Protocol: edge-chat.v1, bearer.<access token>` (browsers can set this
 * header, through `new WebSocket(url, protocols)`), and the server answers `edge-chat.v1`,
 * never the token. One round trip fewer than a ticket; the token is not in the URL.
 */
export const WS_SUBPROTOCOL = 'edge-chat.v1';
export const WS_BEARER_PREFIX = 'bearer.';

// ── Client → server ────────────────────────────────────────────────────────────

/** Send a message. Retrying with the same `cmid` returns the original ack. */
export const SendFrame = z.strictObject({
  type: z.literal('send'),
  rid: Rid.optional(),
  cmid: Cmid,
  content: MessageContent,
  /** Makes this message a reply to an earlier message. */
  replyToSeq: Seq.min(1).optional(),
});

/** Page through history: `after` for catching up, `before` for scrolling back. */
export const HistoryQuery = z.strictObject({
  after: Seq.optional(),
  before: Seq.optional(),
  limit: z.number().int().min(1).max(LIMITS.maxPageSize).optional(),
});
export type HistoryQuery = z.infer<typeof HistoryQuery>;

export const HistoryFrame = HistoryQuery.extend({
  type: z.literal('history'),
  rid: Rid.optional(),
});

/** This member has seen everything up to `seq`: moves their read watermark (never back). */
export const ReadFrame = z.strictObject({ type: z.literal('read'), rid: Rid.optional(), seq: Seq });

/** Typing started or stopped in this window. Never stored; a start expires after `TYPING.ttlMs`. */
export const TypingFrame = z.strictObject({ type: z.literal('typing'), rid: Rid.optional(), state: z.enum(['start', 'stop']) });

/** A reaction string: short, no whitespace or control characters (emoji sequences pass). */
export const Emoji = z
  .string()
  .min(1)
  .max(LIMITS.maxReactionLength)
  .regex(/^[^\s\p{Cc}]+$/u, 'must be one short reaction without spaces');

/** The author replaces the content of their message `targetSeq` (within the edit window). */
export const EditFrame = z.strictObject({ type: z.literal('edit'), rid: Rid.optional(), targetSeq: Seq.min(1), content: MessageContent });

/**
 * Deletes message `targetSeq`: `me` hides it on all of this user's devices only;
 * `everyone` erases it for all (author within the delete window, or an admin);
 * `moderate` hides it for all but keeps the content for the retention period (admins).
 */
export const DeleteScopeRequest = z.enum(['me', 'everyone', 'moderate']);
export type DeleteScopeRequest = z.infer<typeof DeleteScopeRequest>;
export const DeleteFrame = z.strictObject({ type: z.literal('delete'), rid: Rid.optional(), targetSeq: Seq.min(1), scope: DeleteScopeRequest });

/** Adds or removes one of this user's reactions on message `targetSeq`. */
export const ReactFrame = z.strictObject({
  type: z.literal('react'),
  rid: Rid.optional(),
  targetSeq: Seq.min(1),
  emoji: Emoji,
  op: z.enum(['add', 'remove']),
});

export const ClientFrame = z.discriminatedUnion('type', [SendFrame, HistoryFrame, ReadFrame, TypingFrame, EditFrame, DeleteFrame, ReactFrame]);
export type ClientFrame = z.infer<typeof ClientFrame>;
export type SendFrame = z.infer<typeof SendFrame>;

export const CLIENT_FRAME_TYPES = ['send', 'history', 'read', 'typing', 'edit', 'delete', 'react'] as const;

/** What reads a frame: a zod schema, or one with a shortcut (`withShortcut`). */
export interface FrameSchema<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: z.ZodError };
}

/**
 * `schema` with a hand-written check for its commonest input taken first. zod compiles
 * object schemas with `new Function`, which Workers forbid, so there it walks each
 * schema generically: reading a chat window's `send` frame was ~18% of a send's CPU at
 * 100 msg/s (docs/BENCHMARKS.md). The shortcut accepts only what the schema accepts and
 * returns what it would (test/worker/frame-shortcut.test.ts checks both on generated
 * frames); for anything else it returns null and the schema decides, and explains.
 */
export function withShortcut<T>(schema: z.ZodType<T>, shortcut: (value: unknown) => T | null): FrameSchema<T> {
  return {
    safeParse(value) {
      const data = shortcut(value);
      return data === null ? schema.safeParse(value) : { success: true, data };
    },
  };
}

const PLAIN_SEND_KEYS = new Set(['type', 'rid', 'cmid', 'content', 'replyToSeq']);
const TEXT_CONTENT_KEYS = new Set(['type', 'text']);

/** A `send` of plain text, as `SendFrame` reads it; null for any other frame (media, encrypted, anything invalid). */
export function plainTextSend(value: unknown): SendFrame | null {
  if (!isRecord(value) || value.type !== 'send' || !hasOnly(value, PLAIN_SEND_KEYS)) return null;
  const { rid, cmid, content, replyToSeq } = value;
  if (!isOpaque(cmid, 8) || (rid !== undefined && !isOpaque(rid, 1))) return null;
  if (replyToSeq !== undefined && !(typeof replyToSeq === 'number' && Number.isSafeInteger(replyToSeq) && replyToSeq >= 1)) return null;
  if (!isRecord(content) || content.type !== 'text' || !hasOnly(content, TEXT_CONTENT_KEYS)) return null;
  const { text } = content;
  if (typeof text !== 'string' || text.length === 0 || !fitsText(text)) return null;
  // The schema's output: its keys in its order, the optional ones only when given.
  const frame: SendFrame = { type: 'send', ...(rid !== undefined && { rid }), cmid, content: { type: 'text', text } };
  if (replyToSeq !== undefined) frame.replyToSeq = replyToSeq;
  return frame;
}

/** As `codePointString(LIMITS.maxTextLength)` decides. */
function fitsText(text: string): boolean {
  return text.length <= LIMITS.maxTextLength || (text.length <= 2 * LIMITS.maxTextLength && codePointLength(text) <= LIMITS.maxTextLength);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function hasOnly(record: Record<string, unknown>, keys: ReadonlySet<string>): boolean {
  for (const key of Object.keys(record)) if (!keys.has(key)) return false;
  return true;
}

/** Chat-window (and relay) frames, a plain-text send read by its shortcut. */
export const CLIENT_FRAME: FrameSchema<ClientFrame> = withShortcut(ClientFrame, plainTextSend);

// ── Server → client ────────────────────────────────────────────────────────────

/** First frame on every chat-window socket. */
export const ReadyFrame = z.object({
  type: z.literal('ready'),
  conversationId: ConversationId,
  userId: UserId,
  deviceId: DeviceId,
  lastSeq: Seq,
});

export const AckFrame = Ack.extend({ type: z.literal('ack'), rid: Rid.optional() });

/** New events, in seq order. The server may batch several into one frame. */
export const EventsFrame = z.object({
  type: z.literal('events'),
  conversationId: ConversationId,
  events: z.array(ConversationEvent),
});

export const HistoryPage = z.object({
  conversationId: ConversationId,
  events: z.array(ConversationEvent),
  /** True when more events exist past this page in the direction asked for. */
  hasMore: z.boolean(),
  lastSeq: Seq,
});
export type HistoryPage = z.infer<typeof HistoryPage>;

export const HistoryResultFrame = HistoryPage.extend({ type: z.literal('history'), rid: Rid.optional() });

/** One member's receipt watermarks as others see them (a private reader's read stays put). */
export const Watermark = z.object({ userId: UserId, deliveredSeq: Seq, readSeq: Seq });
export type Watermark = z.infer<typeof Watermark>;

/**
 * Coalesced receipt changes: the watermarks that moved since the last such frame. At most
 * one per conversation per `RECEIPTS.flushIntervalMs`. Message status follows from them.
 */
export const ReceiptsFrame = z.object({ type: z.literal('receipts'), conversationId: ConversationId, watermarks: z.array(Watermark) });

/** Answers `read`: this user's own watermarks now (a stale read changes nothing). */
export const WatermarkFrame = z.object({
  type: z.literal('watermark'),
  rid: Rid.optional(),
  conversationId: ConversationId,
  deliveredSeq: Seq,
  readSeq: Seq,
});

/** Someone else is typing (`start`, ending by itself after `expiresInMs`) or stopped. */
export const TypingEventFrame = z.object({
  type: z.literal('typing'),
  conversationId: ConversationId,
  userId: UserId,
  deviceId: DeviceId,
  state: z.enum(['start', 'stop']),
  expiresInMs: z.number().int().optional(),
});

/** Answers `edit`, `delete` and `react`: the seq of the event it caused, or null when nothing changed or the change is private. */
export const DoneFrame = z.object({ type: z.literal('done'), rid: Rid.optional(), seq: Seq.nullable() });

/** To this user's own windows: they hid message `seq` for themselves. */
export const HiddenFrame = z.object({ type: z.literal('hidden'), conversationId: ConversationId, seq: Seq });

export const ErrorFrame = z.object({
  type: z.literal('error'),
  /** The request this error answers, when the offending frame named one. */
  rid: Rid.optional(),
  cmid: Cmid.optional(),
  code: z.enum(ERROR_CODES as [string, ...string[]]),
  message: z.string(),
  issues: z.array(z.object({ path: z.array(z.union([z.string(), z.number()])), message: z.string() })).optional(),
  retryAfterMs: z.number().int().optional(),
  rule: z.string().optional(),
});

/**
 * A member's presence changed. Relayed to open chat windows of conversations that
 * subscribed to their members' presence; `lastSeenAt` is null while online or when the
 * user hides it.
 */
export const PresenceFrame = z.object({
  type: z.literal('presence'),
  userId: UserId,
  online: z.boolean(),
  lastSeenAt: z.number().int().nullable(),
});

export const ServerFrame = z.discriminatedUnion('type', [
  ReadyFrame,
  AckFrame,
  EventsFrame,
  HistoryResultFrame,
  ReceiptsFrame,
  WatermarkFrame,
  TypingEventFrame,
  DoneFrame,
  HiddenFrame,
  ErrorFrame,
  PresenceFrame,
]);
export type ServerFrame = z.infer<typeof ServerFrame>;
export type ErrorFrame = z.infer<typeof ErrorFrame>;
export type EventsFrame = z.infer<typeof EventsFrame>;

// ── Parsing ────────────────────────────────────────────────────────────────────

export type FrameParse<T> = { ok: true; frame: T } | { ok: false; error: ErrorBody; rid?: string; cmid?: string };

/**
 * Parses one incoming text frame: size and depth first, then the frame's `type`
 * against the known ones, then the strict schema. A failure still names the request
 * (`rid`, `cmid`) when the frame carried valid ones, so the client can match it.
 */
export function parseFrame<T>(text: string, schema: FrameSchema<T>, knownTypes: readonly string[]): FrameParse<T> {
  const parsed = parseBoundedJson(text);
  if (!parsed.ok) return parsed;
  const record = parsed.value;
  if (!isRecord(record)) {
    return { ok: false, error: { code: 'invalid_request', message: 'A frame must be a JSON object with a "type".' } };
  }
  if (typeof record.type !== 'string' || !knownTypes.includes(record.type)) {
    const shown = typeof record.type === 'string' ? `"${record.type.slice(0, 32)}"` : 'missing';
    return { ok: false, ...namesOf(record), error: { code: 'unknown_frame_type', message: `Unknown frame type (${shown}); expected one of ${knownTypes.join(', ')}.` } };
  }
  const result = schema.safeParse(record);
  if (!result.success) {
    const { message, issues } = describeIssues(result.error, 'Invalid frame');
    return { ok: false, ...namesOf(record), error: { code: 'invalid_request', message, issues } };
  }
  return { ok: true, frame: result.data };
}

/** The rid and cmid of a refused frame, where valid, so the error can name the request. Only on refusal: it costs two parses. */
function namesOf(record: Record<string, unknown>): { rid?: string; cmid?: string } {
  const names: { rid?: string; cmid?: string } = {};
  const rid = Rid.safeParse(record.rid);
  if (rid.success) names.rid = rid.data;
  const cmid = Cmid.safeParse(record.cmid);
  if (cmid.success) names.cmid = cmid.data;
  return names;
}
