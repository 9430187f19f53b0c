/**
 * @module user/updates
 * What a ConversationDO tells a member's UserDO, through its durable outbox. Every
 * update carries the conversation's seq at which it happened, so a UserDO can apply
 * each at most once and ignore stale ones delivered late or twice.
 */
import type { ConversationKind, Role } from '../protocol/index.js';

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
}

export type UserUpdate = MembershipUpdate;
