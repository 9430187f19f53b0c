/**
 * @module protocol/http
 * Request and response bodies of the HTTP API (`/v1/...`). Request schemas are strict:
 * unknown fields are rejected.
 */
import { z } from 'zod';
import { LIMITS, PRESENCE } from './limits.js';
import { ConversationInfo, MessageContent, Role } from './events.js';
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

export const CreateConversationBody = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('direct'), peerId: UserId }),
  z.strictObject({
    kind: z.literal('group'),
    title: z.string().trim().min(1).max(LIMITS.maxTitleLength),
    memberIds: z.array(UserId).max(LIMITS.maxGroupMembers - 1).default([]),
  }),
]);
export type CreateConversationBody = z.infer<typeof CreateConversationBody>;

export const AddMemberBody = z.strictObject({ userId: UserId, role: Role.exclude(['owner']).default('member') });
export const SetRoleBody = z.strictObject({ role: Role.exclude(['owner']) });

export const SendMessageBody = z.strictObject({ cmid: Cmid, content: MessageContent });

export const MessagePreview = z.object({ seq: Seq, authorId: UserId, text: z.string() });
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
  /** The last message, shortened. Null when there is none or it cannot be shown (end-to-end encrypted). */
  preview: MessagePreview.nullable(),
  /** Messages from others after this user's read watermark, up to `INBOX.maxUnreadCount`. */
  unreadCount: z.number().int().min(0),
  /** This user's read watermark. */
  readSeq: Seq,
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
