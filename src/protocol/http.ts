/**
 * @module protocol/http
 * Request and response bodies of the HTTP API (`/v1/...`). Request schemas are strict:
 * unknown fields are rejected.
 */
import { z } from 'zod';
import { LIMITS, MODERATION, PRESENCE } from './limits.js';
import { ConversationInfo, Member, MessageContent, MessageEvent, Role } from './events.js';
import { DeleteScopeRequest, Emoji, TypingFrame, Watermark } from './frames.js';
import { Cmid, ConversationId, DeviceId, Handle, Seq, UserId } from './ids.js';

const Password = z.string().min(LIMITS.minPasswordLength).max(LIMITS.maxPasswordLength);
const DeviceName = z.string().trim().min(1).max(LIMITS.maxDeviceNameLength);

export const RegisterBody = z.strictObject({
  handle: Handle,
  displayName: z.string().trim().min(1).max(LIMITS.maxDisplayNameLength),
  password: Password,
  deviceName: DeviceName,
});

export const LoginBody = z.strictObject({
  handle: z.string().min(1).max(64),
  password: z.string().min(1).max(LIMITS.maxPasswordLength),
  deviceName: DeviceName,
});

export const RefreshBody = z.strictObject({ refreshToken: z.string().min(1).max(256) });

export const User = z.object({ id: UserId, handle: Handle, displayName: z.string() });
export type User = z.infer<typeof User>;

export const Device = z.object({
  id: DeviceId,
  name: z.string(),
  createdAt: z.number().int(),
  lastSeenAt: z.number().int(),
  current: z.boolean(),
});

export const Session = z.object({
  user: User,
  deviceId: DeviceId,
  accessToken: z.string(),
  accessTokenExpiresAt: z.number().int(),
  refreshToken: z.string(),
  refreshTokenExpiresAt: z.number().int(),
});
export type Session = z.infer<typeof Session>;

export const TicketResponse = z.object({ ticket: z.string(), expiresAt: z.number().int() });

/** Data-residency jurisdictions a conversation can be created in: its object, messages and media stay there. */
export const JURISDICTIONS = ['eu'] as const;
/** Where a conversation's object is first created, as a hint (no guarantee; it stays where it was created). */
export const LOCATION_HINTS = ['wnam', 'enam', 'sam', 'weur', 'eeur', 'apac', 'oc', 'afr', 'me'] as const;

/** `POST /conversations` `placement`: a jurisdiction (a guarantee) or a location hint (a preference), not both. */
export const Placement = z.union([z.strictObject({ jurisdiction: z.enum(JURISDICTIONS) }), z.strictObject({ locationHint: z.enum(LOCATION_HINTS) })]);
export type Placement = z.infer<typeof Placement>;

export const CreateConversationBody = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('direct'), peerId: UserId, placement: Placement.optional(), encrypted: z.boolean().default(false) }),
  z.strictObject({
    kind: z.literal('group'),
    title: z.string().trim().min(1).max(LIMITS.maxTitleLength),
    memberIds: z.array(UserId).max(LIMITS.maxListedMembers - 1).default([]),
    placement: Placement.optional(),
    /** End-to-end encrypted (docs/E2E.md): fixed at creation; at most E2EE.maxEncryptedGroupMembers members. */
    encrypted: z.boolean().default(false),
    /** A broadcast channel: only the owner and admins post, members read and react. Fixed at creation. */
    broadcast: z.boolean().default(false),
  }),
]);
export type CreateConversationBody = z.infer<typeof CreateConversationBody>;

/**
 * `GET /conversations/:id/members`: a page in join order. `after` is the previous page's
 * `next` (opaque: join time and user id), so a page holds when members leave meanwhile.
 */
export const MemberCursor = z.string().regex(/^\d{1,15}\.[A-Za-z0-9_-]{1,64}$/, 'must be a `next` from a previous page');
export const MembersQuery = z.strictObject({
  after: MemberCursor.optional(),
  limit: z.coerce.number().int().min(1).max(LIMITS.maxListedMembers).optional(),
});
export const MembersPage = z.object({ members: z.array(Member), next: MemberCursor.nullable(), memberCount: z.number().int().nonnegative() });
export type MembersPage = z.infer<typeof MembersPage>;

export const AddMemberBody = z.strictObject({ userId: UserId, role: Role.exclude(['owner']).default('member') });
export const SetRoleBody = z.strictObject({ role: Role.exclude(['owner']) });

export const SendMessageBody = z.strictObject({ cmid: Cmid, content: MessageContent, replyToSeq: Seq.min(1).optional() });

export const EditMessageBody = z.strictObject({ content: MessageContent });
export const DeleteMessageQuery = z.strictObject({ scope: DeleteScopeRequest.default('everyone') });
export const ReactBody = z.strictObject({ emoji: Emoji, op: z.enum(['add', 'remove']).default('add') });
export const ReadBody = z.strictObject({ seq: Seq });
/** `POST /conversations/:id/typing`: the socket's `typing` frame over HTTP, for clients on a fallback wire. */
export const TypingBody = TypingFrame.pick({ state: true });
export const ConversationSettingsBody = z.strictObject({ privateReads: z.boolean() });

/** `PATCH/DELETE /messages/:seq`, `POST /messages/:seq/reactions`: the event caused, or null. */
export const LifecycleResult = z.object({ seq: Seq.nullable() });

/** Every version of a message, oldest first (the original, then each edit). */
export const MessageVersions = z.object({
  seq: Seq,
  versions: z.array(z.object({ seq: Seq, at: z.number().int(), content: MessageContent })),
});

export const ReceiptsOverview = z.object({ conversationId: ConversationId, lastSeq: Seq, watermarks: z.array(Watermark) });
export type ReceiptsOverview = z.infer<typeof ReceiptsOverview>;

/**
 * Status of one message as its sender sees it. Recipients are the members other than the
 * sender who had joined by the time it was sent. `delivered`/`read` are counts; status is
 * `read` when all recipients read it, else `delivered` when all have it, else `sent`.
 */
export const ReceiptDetail = z.object({
  seq: Seq,
  status: z.enum(['sent', 'delivered', 'read']),
  recipients: z.number().int(),
  delivered: z.number().int(),
  read: z.number().int(),
  /** Per recipient: when their watermark first passed this message (null: not yet, or private). */
  members: z.array(z.object({ userId: UserId, deliveredAt: z.number().int().nullable(), readAt: z.number().int().nullable() })),
});
export type ReceiptDetail = z.infer<typeof ReceiptDetail>;

/** Search hits in one conversation, newest first; pass `nextBefore` as `before` for more. */
export const SearchPage = z.object({
  conversationId: ConversationId,
  results: z.array(MessageEvent),
  nextBefore: Seq.nullable(),
});
export type SearchPage = z.infer<typeof SearchPage>;

/** Search across the caller's conversations: the newest hits, and what was covered. */
export const CrossSearchResult = z.object({
  results: z.array(z.object({ conversationId: ConversationId, message: MessageEvent })),
  /** Conversations searched; at most `SEARCH_FAN_IN.maxConversations`, the most recent first. */
  searched: z.number().int(),
  /** Conversations not searched because the caller has more than the fan-in bound. */
  skipped: z.number().int(),
  /** End-to-end encrypted conversations: the server cannot search them. */
  unavailable: z.array(ConversationId),
});
export type CrossSearchResult = z.infer<typeof CrossSearchResult>;

/**
 * The list's line for a conversation's last message. `deleted`: that message was deleted
 * for everyone or removed by a moderator; `text` is then empty (its content never shows).
 * Added later: clients that do not know it show the empty text.
 */
export const MessagePreview = z.object({ seq: Seq, authorId: UserId, text: z.string(), deleted: z.literal(true).optional() });
export type MessagePreview = z.infer<typeof MessagePreview>;

export const ConversationSummary = z.object({
  id: ConversationId,
  kind: z.enum(['direct', 'group']),
  title: z.string().nullable(),
  role: Role,
  joinedAt: z.number().int(),
  /** For direct conversations: the other member. */
  peerId: UserId.nullable(),
  /** The newest seq this user's inbox knows of (0: nothing sent yet). */
  lastSeq: Seq,
  /** When the last event happened, else when the user joined; the list is sorted by it, newest first. */
  lastActivityAt: z.number().int(),
  /** The last message, shortened, or marked `deleted`. Null when there is none or it cannot be shown (end-to-end encrypted). */
  preview: MessagePreview.nullable(),
  /** Messages from others after this user's read watermark, up to `INBOX.maxUnreadCount`. */
  unreadCount: z.number().int().min(0),
  /** This user's read watermark. */
  readSeq: Seq,
  /** End-to-end encrypted (fixed at creation): no preview, no server search. */
  encrypted: z.boolean(),
});
export type ConversationSummary = z.infer<typeof ConversationSummary>;

export const PresenceQueryBody = z.strictObject({ userIds: z.array(UserId).min(1).max(PRESENCE.maxQueryUsers) });

export const Presence = z.object({
  userId: UserId,
  online: z.boolean(),
  /** Null while online, when the user hides it, or when they were never seen. */
  lastSeenAt: z.number().int().nullable(),
});
export type Presence = z.infer<typeof Presence>;

export const PresenceSettingsBody = z.strictObject({ hideLastSeen: z.boolean() });
export type PresenceSettings = z.infer<typeof PresenceSettingsBody>;

export { ConversationInfo };

// ── Moderation: reports and blocks ───────────────────────────────────────────

/** Report a message (with the conversation and its seq) or a user, to the moderators. */
export const ReportBody = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('message'),
    conversationId: ConversationId,
    seq: Seq.min(1),
    reason: z.string().trim().min(1).max(MODERATION.maxReportReasonLength),
  }),
  z.strictObject({ kind: z.literal('user'), userId: UserId, reason: z.string().trim().min(1).max(MODERATION.maxReportReasonLength) }),
]);
export type ReportBody = z.infer<typeof ReportBody>;

export const ReportReceipt = z.object({ reportId: z.string(), duplicate: z.boolean() });

export const Block = z.object({ userId: UserId, blockedAt: z.number().int() });
export type Block = z.infer<typeof Block>;
