/**
 * @module client/timeline
 * Folds a conversation's events, in seq order, into the messages a client shows: edits
 * replace text, deletes leave tombstones, reactions add and remove, replies' quotes
 * follow the message they quote. Applying an event twice, or an event older than the
 * state a history page already showed, changes nothing, so a client that was offline
 * (history page, then the events after it) ends up with the same messages as one that
 * watched every event live.
 *
 * Pure: no I/O. Feed it events from the reorder buffer.
 */
import { quoteOf, type ConversationEvent, type MessageEvent } from '../protocol/index.js';

export type Timeline = Map<number, MessageEvent>;

/** Applies events (ascending seq) to `timeline`, in place, and returns it. */
export function applyEvents(timeline: Timeline, events: ConversationEvent[]): Timeline {
  for (const event of events) applyEvent(timeline, event);
  return timeline;
}

function applyEvent(timeline: Timeline, event: ConversationEvent): void {
  switch (event.type) {
    case 'message':
      timeline.set(event.seq, event);
      return;
    case 'message_edited': {
      const target = timeline.get(event.targetSeq);
      if (!target || !target.content || !event.content || (target.edited && target.edited.seq >= event.seq)) return;
      timeline.set(event.targetSeq, { ...target, content: event.content, edited: { seq: event.seq, at: event.ts } });
      requote(timeline, event.targetSeq, quoteOf(event.content));
      return;
    }
    case 'message_deleted': {
      const target = timeline.get(event.targetSeq);
      if (!target || target.deleted || target.hidden) return;
      const { seq, ts, author, cmid } = target;
      timeline.set(event.targetSeq, {
        type: 'message',
        seq,
        ts,
        author,
        cmid,
        deleted: { scope: event.scope, seq: event.seq, at: event.ts, by: event.author.userId },
      });
      requote(timeline, event.targetSeq, null);
      return;
    }
    case 'reaction': {
      const target = timeline.get(event.targetSeq);
      if (!target || !target.content) return;
      const byEmoji = new Map((target.reactions ?? []).map((r) => [r.emoji, new Set(r.userIds)]));
      const users = byEmoji.get(event.emoji) ?? new Set<string>();
      if (event.op === 'add') users.add(event.author.userId);
      else users.delete(event.author.userId);
      byEmoji.set(event.emoji, users);
      const reactions = [...byEmoji]
        .filter(([, u]) => u.size > 0)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([emoji, u]) => ({ emoji, userIds: [...u].sort() }));
      const { reactions: _old, ...rest } = target;
      timeline.set(event.targetSeq, reactions.length > 0 ? { ...rest, reactions } : rest);
      return;
    }
    default:
      return;
  }
}

function requote(timeline: Timeline, targetSeq: number, quote: string | null): void {
  for (const [seq, message] of timeline) {
    if (message.replyTo?.seq === targetSeq) timeline.set(seq, { ...message, replyTo: { ...message.replyTo, quote } });
  }
}
