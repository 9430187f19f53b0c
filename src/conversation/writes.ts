/**
 * @module conversation/writes
 * A member's writes other than sends: edits, deletes (for everyone, moderation, for me),
 * reactions and read receipts. Each is checked against the delivery rule (member, device
 * in standing), the blocks of a direct conversation and its tier's limit, then written in
 * one synchronous step and shown to the windows. The logic of what each one means lives
 * in ./lifecycle.ts and ./receipts.ts.
 *
 * The limits (TIER_LIMITS: reactions, edits, deletes per user in this conversation;
 * receipts per device) are windows in memory: an eviction forgets them, which lets at
 * most one more window through, and none of these is worth a write of its own.
 */
import type { Env } from '../env.js';
import { AppError } from '../errors.js';
import { INBOX, mediaIdsOf, type ConversationEvent, type DeleteScopeRequest, type MessageContent } from '../protocol/index.js';
import { TIER_LIMITS, type TierLimits } from '../ratelimit/rules.js';
import { WindowCounter } from '../ratelimit/window-counter.js';
import { deleteMediaOf } from '../media/cleanup.js';
import * as blocks from './blocks.js';
import { assertContentFits } from './envelopes.js';
import * as lifecycle from './lifecycle.js';
import * as eventLog from './log.js';
import * as media from './media.js';
import { requireMeta } from './meta.js';
import * as outbox from './outbox.js';
import * as receipts from './receipts.js';
import type { DeviceStandings } from './standing.js';
import type { ConversationStore } from './store.js';
import { admit, type Reader } from './visibility.js';
import type { ChatWindows } from './windows.js';

type LimitedWrite = keyof Pick<TierLimits, 'reactions' | 'edits' | 'deletes'>;

const LIMIT_MESSAGES: Record<LimitedWrite, string> = {
  reactions: 'Too many reactions in this conversation; wait before reacting again.',
  edits: 'Too many edits in this conversation; wait before editing again.',
  deletes: 'Too many deletes in this conversation; wait before deleting more.',
};

export class MemberWrites {
  readonly #limits = new WindowCounter();

  constructor(
    private readonly store: ConversationStore,
    private readonly env: Env,
    private readonly ctx: DurableObjectState,
    private readonly standings: DeviceStandings,
    private readonly windows: ChatWindows,
    /** Shows new events to the open windows and held feed reads. */
    private readonly announce: (events: ConversationEvent[]) => void,
  ) {}

  /** Only the author edits, within the edit window. Returns the edit's seq. */
  edit(reader: Reader, targetSeq: number, content: MessageContent): number {
    this.check(reader, 'edits', true);
    // The same content rule as a send: an envelope replaces an envelope, addressed the same way.
    assertContentFits(this.store, requireMeta(this.store), reader, content);
    if (content.type === 'encrypted') media.resolve(this.store.sql, reader.userId, content);
    const event = this.store.transaction(() => {
      const edited = lifecycle.edit(this.store, reader, targetSeq, content, Date.now());
      if (content.type === 'encrypted') media.markReferenced(this.store.sql, content, edited.seq);
      return edited;
    });
    this.announce([event]);
    return event.seq;
  }

  /** Deletes for everyone, moderates, or hides for the reader (`me`: no event; null). Null when nothing changed. */
  remove(reader: Reader, targetSeq: number, scope: DeleteScopeRequest): number | null {
    const member = this.check(reader, 'deletes', false);
    const meta = requireMeta(this.store);
    const now = Date.now();
    if (scope === 'me') {
      this.hide(reader.userId, targetSeq, now);
      return null;
    }
    const target = eventLog.eventAt(this.store.sql, targetSeq);
    const mediaIds = scope === 'everyone' && target?.type === 'message' && target.content ? mediaIdsOf(target.content) : [];
    const actor = { ...reader, role: member.role };
    const event = this.store.transaction(() => {
      const deleted = lifecycle.deleteForAll(this.store, actor, meta.kind, targetSeq, scope === 'moderate' ? 'moderated' : 'everyone', now);
      if (deleted) media.forget(this.store.sql, mediaIds, now);
      return deleted;
    });
    if (!event) return null;
    this.announce([event]);
    // The blobs go after the tombstone is durable; the orphan sweep catches a failure here.
    if (mediaIds.length > 0) this.ctx.waitUntil(deleteMediaOf(this.env, mediaIds));
    return event.seq;
  }

  /** Adds or removes one reaction. Null when that changes nothing. */
  react(reader: Reader, targetSeq: number, emoji: string, op: 'add' | 'remove'): number | null {
    this.check(reader, 'reactions', true);
    const event = this.store.transaction(() => lifecycle.react(this.store, reader, targetSeq, emoji, op, Date.now()));
    if (event) this.announce([event]);
    return event?.seq ?? null;
  }

  /** Moves the member's read position; when it moved, their UserDO hears of it (other devices clear unread). */
  read(reader: Reader, seq: number): receipts.OwnReceipts {
    admit(this.store, this.standings, reader);
    const tier = this.standings.tierOf(reader);
    const allowed = this.#limits.take(`receipts:${reader.deviceId}`, TIER_LIMITS[tier].receipts, Date.now());
    if (!allowed.allowed) throw new AppError('rate_limited', 'Too many read updates; send the latest seq less often.', { retryAfterMs: allowed.retryAfterMs });
    const conversationId = requireMeta(this.store).id;
    return this.store.transaction(() => {
      const now = Date.now();
      const move = receipts.markRead(this.store, reader.userId, seq, eventLog.lastSeq(this.store), now);
      if (move.readMoved) outbox.enqueue(this.store, reader.userId, { type: 'read', conversationId, seq: move.own.readSeq, ts: now }, now);
      return move.own;
    });
  }

  /** Delete for me: hidden in the user's windows here at once; their UserDO moves their list's preview off it. */
  private hide(userId: string, seq: number, now: number): void {
    const conversationId = requireMeta(this.store).id;
    const hidden = this.store.transaction(() => {
      const changed = lifecycle.hideForMe(this.store.sql, userId, seq, now);
      if (changed) {
        const preview = lifecycle.lastPreview(this.store.sql, userId, INBOX.maxPreviewLength, blocks.blockedBy(this.store, userId));
        outbox.enqueue(this.store, userId, { type: 'hidden', conversationId, seq, ts: now, preview }, now);
      }
      return changed;
    });
    if (hidden) this.windows.sendToUser(userId, { type: 'hidden', conversationId, seq });
  }

  /**
   * The reader may write here now, and the tier allows one more of `kind`. `toPeer`: in a
   * direct conversation, a user the other blocked may not (see blocks.assertMayWrite).
   */
  private check(reader: Reader, kind: LimitedWrite, toPeer: boolean) {
    const member = admit(this.store, this.standings, reader);
    if (toPeer) blocks.assertMayWrite(this.store, requireMeta(this.store), reader.userId);
    const rule = TIER_LIMITS[this.standings.tierOf(reader)][kind];
    const decision = this.#limits.take(`${kind}:${reader.userId}`, rule, Date.now());
    if (!decision.allowed) throw new AppError('rate_limited', LIMIT_MESSAGES[kind], { retryAfterMs: decision.retryAfterMs });
    return member;
  }
}
