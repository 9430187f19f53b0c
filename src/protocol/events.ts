/**
 * @module protocol/events
 * The conversation event log as clients see it. Every event has a gap-free `seq`
 * within its conversation, a server timestamp `ts` (ms since the epoch) and an
 * `author`; all three are set by the server and cannot be supplied by a client.
 * New event types may be added: clients must ignore types they do not know
 * (and still advance their seq cursor past them).
 */
import { z } from 'zod';
import { E2EE, LIMITS } from './limits.js';
import { Cmid, ConversationId, DeviceId, Seq, UserId } from './ids.js';
import { MediaContent, MediaId } from './media.js';
import { codePointSlice, codePointString } from './text.js';

/**
 * What a message carries. A discriminated union so new kinds (media, end-to-end
 * encrypted envelopes per recipient device) are one more member, not a new field.
 */
/** Opaque ciphertext as base64url (no padding), at most `max` characters. */
export const Ciphertext = (max: number) => z.string().min(1).max(max).regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');

/**
 * One recipient device's ciphertext in an encrypted message: a Double Ratchet message
 * (`prekey` when it also starts the session: a PQXDH prekey message) for exactly that
 * device. A device is sent only its own entry, wherever the service can filter.
 */
export const EncryptedEntry = z.strictObject({
  userId: UserId,
  deviceId: DeviceId,
  kind: z.enum(['prekey', 'message']),
  data: Ciphertext(E2EE.maxEntryLength),
});
export type EncryptedEntry = z.infer<typeof EncryptedEntry>;

/**
 * The only content an end-to-end encrypted conversation accepts (docs/E2E.md):
 * - `pairwise`: `body` is the payload sealed once with a fresh key (AES-256-GCM), and each
 *   entry carries that key to one device in its pairwise session, for every recipient
 *   device and every other device of the sender;
 * - `sender_key`: `body` is a Sender Key message every member's device can open with the
 *   sender's chain, and entries (if any) carry sender-key distribution messages to the
 *   devices that do not have it yet.
 * `mediaIds` names the encrypted media the payload refers to (their keys are inside it),
 * so the service can attach them to the message as it does for plain media.
 */
export const EncryptedContent = z.strictObject({
  type: z.literal('encrypted'),
  scheme: z.enum(['pairwise', 'sender_key']),
  body: Ciphertext(E2EE.maxBodyLength),
  entries: z.array(EncryptedEntry).max(E2EE.maxEntries).default([]),
  mediaIds: z.array(MediaId).max(E2EE.maxMediaPerMessage).optional(),
  /**
   * No message for people, only keys for the devices its entries name; others skip it.
   * `session_reset`: a new session (a device that could not decrypt asks the sender's
   * device to start over); `keys`: the sender's key for a group, ahead of a message whose
   * distribution entries would not fit in one frame.
   */
  notice: z.enum(['session_reset', 'keys']).optional(),
});
export type EncryptedContent = z.infer<typeof EncryptedContent>;

export const MessageContent = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('text'),
    text: codePointString(LIMITS.maxTextLength).min(1),
  }),
  MediaContent,
  EncryptedContent,
]);
export type MessageContent = z.infer<typeof MessageContent>;

export const Role = z.enum(['owner', 'admin', 'member']);
export type Role = z.infer<typeof Role>;

export const Author = z.object({ userId: UserId, deviceId: DeviceId });
export type Author = z.infer<typeof Author>;

const base = { seq: Seq, ts: z.number().int(), author: Author };

/** What a reply shows of the message it answers: its seq, author and a short quote. */
export const ReplyRef = z.object({
  seq: Seq,
  /** Filled in by the server whenever it sends an event; absent only in storage. */
  userId: UserId.optional(),
  /** The start of the quoted message's current text; null once it is deleted or not text. */
  quote: codePointString(LIMITS.maxQuoteLength).nullable().optional(),
});
export type ReplyRef = z.infer<typeof ReplyRef>;

export const DeleteScope = z.enum(['everyone', 'moderated']);
export type DeleteScope = z.infer<typeof DeleteScope>;

export const Reaction = z.object({ emoji: z.string(), userIds: z.array(UserId) });
export type Reaction = z.infer<typeof Reaction>;

/**
 * A message, in its current state whenever the server sends it: `content` is the latest
 * edit, and is absent once the message was deleted (`deleted`: a tombstone) or hidden by
 * this user for themselves (`hidden`). `reactions` is present when there are any.
 */
export const MessageEvent = z.object({
  ...base,
  type: z.literal('message'),
  cmid: Cmid,
  content: MessageContent.optional(),
  replyTo: ReplyRef.optional(),
  edited: z.object({ seq: Seq, at: z.number().int() }).optional(),
  deleted: z.object({ scope: DeleteScope, seq: Seq, at: z.number().int(), by: UserId }).optional(),
  hidden: z.literal(true).optional(),
  reactions: z.array(Reaction).optional(),
});

/** The author changed the text of message `targetSeq`. `content` is absent once that message was deleted. */
export const MessageEditedEvent = z.object({
  ...base,
  type: z.literal('message_edited'),
  targetSeq: Seq,
  content: MessageContent.optional(),
});

/**
 * Message `targetSeq` was deleted for everyone: by its author or an admin (`everyone`,
 * content erased at once) or by a moderator (`moderated`, content held for the
 * retention period and then erased).
 */
export const MessageDeletedEvent = z.object({
  ...base,
  type: z.literal('message_deleted'),
  targetSeq: Seq,
  scope: DeleteScope,
});

/** The author added or removed one reaction on message `targetSeq`. */
export const ReactionEvent = z.object({
  ...base,
  type: z.literal('reaction'),
  targetSeq: Seq,
  emoji: z.string(),
  op: z.enum(['add', 'remove']),
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

/**
 * In an end-to-end encrypted conversation: `userId`'s set of devices with keys changed
 * (a device added its keys, or was revoked), now at `version`. Senders fetch the user's
 * device list (`GET /v1/users/:userId/keys`) before encrypting for them again.
 */
export const DevicesChangedEvent = z.object({
  ...base,
  type: z.literal('devices_changed'),
  userId: UserId,
  version: z.number().int().min(1),
});

/**
 * An event this reader may not see, in its place so seqs stay gap-free: for now, an edit
 * or reaction by a user the reader blocked (their messages arrive `hidden`). Never stored.
 */
export const WithheldEvent = z.object({
  ...base,
  type: z.literal('withheld'),
});

export const ConversationEvent = z.discriminatedUnion('type', [
  MessageEvent,
  MemberAddedEvent,
  MemberRemovedEvent,
  RoleChangedEvent,
  MessageEditedEvent,
  MessageDeletedEvent,
  ReactionEvent,
  DevicesChangedEvent,
  WithheldEvent,
]);
export type ConversationEvent = z.infer<typeof ConversationEvent>;
export type MessageEvent = z.infer<typeof MessageEvent>;
export type MessageEditedEvent = z.infer<typeof MessageEditedEvent>;
export type MessageDeletedEvent = z.infer<typeof MessageDeletedEvent>;
export type ReactionEvent = z.infer<typeof ReactionEvent>;
export type WithheldEvent = z.infer<typeof WithheldEvent>;
export type DevicesChangedEvent = z.infer<typeof DevicesChangedEvent>;

/** The quote a reply shows of `content`: the start of its text, or null for other kinds. */
export function quoteOf(content: MessageContent | undefined): string | null {
  return content?.type === 'text' ? codePointSlice(content.text, LIMITS.maxQuoteLength) : null;
}

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
  /** In join order: all of them, or the first LIMITS.maxListedMembers (GET /members pages on). */
  members: z.array(Member),
  memberCount: z.number().int().nonnegative(),
  /** End-to-end encrypted (docs/E2E.md): fixed at creation. */
  encrypted: z.boolean(),
  /** A broadcast channel: only the owner and admins post (fixed at creation). */
  broadcast: z.boolean(),
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
