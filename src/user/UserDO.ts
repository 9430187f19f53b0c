/**
 * @module user/UserDO
 * One object per user. Owns the user's view of their conversations (the inbox), fed by
 * ConversationDOs through their durable outboxes. Applying an update is idempotent, so
 * a retried delivery never changes anything twice.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env.js';
import { migrate } from '../storage/migrate.js';
import type { ConversationSummary, Role } from '../protocol/index.js';
import { USER_MIGRATIONS } from './schema.js';
import type { MembershipUpdate, UserUpdate } from './updates.js';

interface ConversationRow {
  conversation_id: string;
  kind: 'direct' | 'group';
  title: string | null;
  peer_id: string | null;
  role: Role | null;
  joined_at: number;
  membership_seq: number;
  [key: string]: SqlStorageValue;
}

export class UserDO extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(ctx.storage, USER_MIGRATIONS);
  }

  /** Applies updates from a conversation, in order, each at most once. */
  async apply(updates: UserUpdate[]): Promise<void> {
    this.ctx.storage.transactionSync(() => {
      for (const update of updates) {
        if (update.type === 'membership') this.applyMembership(update);
      }
    });
  }

  /** The user's current conversations, newest first. */
  async listConversations(): Promise<ConversationSummary[]> {
    return this.sql
      .exec<ConversationRow>('SELECT * FROM conversations WHERE role IS NOT NULL ORDER BY joined_at DESC, conversation_id')
      .toArray()
      .map((row) => ({
        id: row.conversation_id,
        kind: row.kind,
        title: row.title,
        role: row.role as Role,
        joinedAt: row.joined_at,
        peerId: row.peer_id,
      }));
  }

  private applyMembership(update: MembershipUpdate): void {
    // The upsert only wins when the update is newer than what is stored (seq 0 is the
    // creation; a later re-join has a higher seq).
    this.sql.exec(
      `INSERT INTO conversations (conversation_id, kind, title, peer_id, role, joined_at, membership_seq)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (conversation_id) DO UPDATE SET
         title = excluded.title, peer_id = excluded.peer_id, role = excluded.role,
         joined_at = CASE WHEN conversations.role IS NULL THEN excluded.joined_at ELSE conversations.joined_at END,
         membership_seq = excluded.membership_seq
       WHERE excluded.membership_seq > conversations.membership_seq`,
      update.conversationId,
      update.conversationKind,
      update.title,
      update.peerId,
      update.role,
      update.ts,
      update.seq,
    );
  }
}
