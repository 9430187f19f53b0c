/**
 * @module protocol/events
 * The conversation event log as clients see it. Every event has a gap-free `seq`
 * within its conversation, a server timestamp `ts` (ms since the epoch) and an
 * `author`; all three are set by the server and cannot be supplied by a client.
 * New event types may be added: clients must ignore types they do not know
 * (and still advance their seq cursor past them).
 */
import { z } from 'zod';
import { LIMITS } from './limits.js';
import { Cmid, ConversationId, DeviceId, Seq, UserId } from './ids.js';
import { MediaContent } from './media.js';

/**
 * What a message carries. A discriminated union so new kinds (media, end-to-end
 * encrypted envelopes per recipient device) are one more member, not a new field.
 */
export const MessageContent = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('text'),
    text: z.string().min(1).max(LIMITS.maxTextLength),
  }),
  MediaContent,
]);
export type MessageContent = z.infer<typeof MessageContent>;

export const Role = z.enum(['owner', 'admin', 'member']);
export type Role = z.infer<typeof Role>;

export const Author = z.object({ userId: UserId, deviceId: DeviceId });
export type Author = z.infer<typeof Author>;

const base = { seq: Seq, ts: z.number().int(), author: Author };

export const MessageEvent = z.object({
  ...base,
  type: z.literal('message'),
  cmid: Cmid,
  content: MessageContent,
});

export const MemberAddedEvent = z.object({
  ...base,
  type: z.literal('member_added'),
  userId: UserId,
  role: Role,
});

/** `author.userId === userId` means the member left by themselves. */
export const MemberRemovedEvent = z.object({
  ...base,
  type: z.literal('member_removed'),
  userId: UserId,
});

export const RoleChangedEvent = z.object({
  ...base,
  type: z.literal('role_changed'),
  userId: UserId,
  role: Role,
});

export const ConversationEvent = z.discriminatedUnion('type', [
  MessageEvent,
  MemberAddedEvent,
  MemberRemovedEvent,
  RoleChangedEvent,
]);
export type ConversationEvent = z.infer<typeof ConversationEvent>;
export type MessageEvent = z.infer<typeof MessageEvent>;

export const ConversationKind = z.enum(['direct', 'group']);
export type ConversationKind = z.infer<typeof ConversationKind>;

export const Member = z.object({ userId: UserId, role: Role, joinedAt: z.number().int() });
export type Member = z.infer<typeof Member>;

export const ConversationInfo = z.object({
  id: ConversationId,
  kind: ConversationKind,
  title: z.string().nullable(),
  createdAt: z.number().int(),
  lastSeq: Seq,
  members: z.array(Member),
});
export type ConversationInfo = z.infer<typeof ConversationInfo>;

export const Ack = z.object({
  cmid: Cmid,
  seq: Seq,
  ts: z.number().int(),
  /** True when this cmid was already stored: the ack repeats the original. */
  duplicate: z.boolean(),
});
export type Ack = z.infer<typeof Ack>;
