/**
 * @module user/updates
 * What a ConversationDO tells a member's UserDO, through its durable outbox. Every
 * update carries the conversation's seq at which it happened, so a UserDO can apply
 * each at most once and ignore stale ones delivered late or twice.
 */
import type { ConversationEvent, ConversationKind, MessagePreview, Role } from '../protocol/index.js';

export interface MembershipUpdate {
  type: 'membership';
  conversationId: string;
  conversationKind: ConversationKind;
  title: string | null;
  /** For direct conversations: the other member. */
  peerId: string | null;
  /** null: the user is no longer a member. */
  role: Role | null;
  /** The seq of the membership event (0 for membership from creation). */
  seq: number;
  ts: number;
  /** End-to-end encrypted (fixed at creation). Absent from updates queued before it existed: not encrypted. */
  encrypted?: boolean;
}

/**
 * New events of a conversation that fans out on write, in seq order. The ConversationDO
 * sends each member the events after the last batch that member's UserDO accepted, so a
 * UserDO sees seqs in order and skips those at or below what it already applied.
 */
export interface EventsUpdate {
  type: 'events';
  conversationId: string;
  conversationKind: ConversationKind;
  events: ConversationEvent[];
}

/** A conversation that fans out on read: coalesced "activity up to seq", no events. */
export interface ActivityUpdate {
  type: 'activity';
  conversationId: string;
  conversationKind: ConversationKind;
  seq: number;
  ts: number;
}

/**
 * The user read the conversation up to `seq` (on some device): their other devices clear
 * the unread count up to there. Sent whenever their read position moves, private or not.
 * Never moves back: apply only when `seq` is above what is stored.
 */
export interface ReadUpdate {
  type: 'read';
  conversationId: string;
  seq: number;
  ts: number;
}

/**
 * The user hid message `seq` for themselves ("delete for me"). `preview`: their list's
 * preview with it hidden (the last message they may still see), which replaces the one
 * kept when that was `seq` (absent from updates queued before it existed: nothing moves).
 */
export interface HiddenUpdate {
  type: 'hidden';
  conversationId: string;
  seq: number;
  ts: number;
  preview?: MessagePreview | null;
}

export type UserUpdate = MembershipUpdate | EventsUpdate | ActivityUpdate | ReadUpdate | HiddenUpdate;
