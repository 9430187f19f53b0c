/**
 * @module web/lib/inbox
 * Keeps the conversation list live from the device event stream: a new message moves
 * its conversation to the top with the new preview and, from someone else in a
 * conversation not on screen, one more unread. Whatever the list cannot derive from an
 * event alone (a conversation it does not know, a membership change) makes it `stale`:
 * the caller reads the list again. An edit or delete of the previewed message updates
 * the preview in place. The open chat's own events are folded the same way as they arrive
 * (`applyChatEvents`), ahead of the stream.
 * Pure, so it is unit tested in Node.
 */
import type { ConversationEvent, ConversationSummary, DeviceEvent } from '../../client/index.js';
import { INBOX, deletedPreview, previewOf } from '../../protocol/index.js';

/** What the list shows for a last message that was deleted. */
export const DELETED_PREVIEW = 'This message was deleted.';
/**
 * What the list shows for a message of an end-to-end encrypted conversation: the service
 * cannot read it. The device may have decrypted it (see lib/encrypted-previews.ts).
 */
export const ENCRYPTED_PREVIEW = 'Encrypted message';

export interface InboxFold {
  list: ConversationSummary[];
  /** The list must be read again from the service. */
  stale: boolean;
}

export function applyInboxEvents(list: readonly ConversationSummary[], events: readonly DeviceEvent[], me: string, openId: string | null): InboxFold {
  const byId = new Map(list.map((c) => [c.id, { ...c }]));
  let stale = false;
  for (const device of events) {
    // The key directory's signal to this device (the SDK's `prekeysLow`): nothing in the list changes.
    if (device.kind === 'prekeys_low') continue;
    const item = byId.get(device.conversationId);
    if (device.kind === 'membership' || !item) {
      stale = true;
      continue;
    }
    const event = device.event;
    // Already counted in the list as read (the stream and a list read can overlap).
    if (event.seq <= item.lastSeq) continue;
    item.lastSeq = event.seq;
    switch (event.type) {
      case 'message': {
        item.lastActivityAt = Math.max(item.lastActivityAt, event.ts);
        // Encrypted: the seq is kept, so the list can tell whether this device read that message.
        item.preview = event.content?.type === 'encrypted' ? { seq: event.seq, authorId: event.author.userId, text: ENCRYPTED_PREVIEW } : previewOf(event, INBOX.maxPreviewLength);
        // The server's rule: your own message means you saw everything before it.
        if (event.author.userId === me) item.unreadCount = 0;
        else if (device.conversationId !== openId) item.unreadCount = Math.min(item.unreadCount + 1, INBOX.maxUnreadCount);
        break;
      }
      // An edit or delete of the previewed message is folded here, not read again.
      case 'message_edited':
        if (item.preview && item.preview.seq === event.targetSeq && event.content) {
          item.preview = previewOf({ seq: item.preview.seq, author: { userId: item.preview.authorId, deviceId: '' }, content: event.content } as never, INBOX.maxPreviewLength) ?? item.preview;
        }
        break;
      case 'message_deleted':
        if (item.preview?.seq === event.targetSeq) item.preview = deletedPreview(item.preview.seq, item.preview.authorId);
        break;
      case 'reaction':
      // A member's device list changed (end-to-end encryption): nothing the list shows.
      case 'devices_changed':
        break;
      default:
        stale = true;
    }
  }
  return { list: sortByActivity([...byId.values()]), stale };
}

/** Events the list folds alone: any other asks for a re-read (`applyInboxEvents`). */
const FOLDABLE = new Set<ConversationEvent['type']>(['message', 'message_edited', 'message_deleted', 'reaction', 'devices_changed']);

/**
 * The open chat's own live events, folded as the stream folds them (nothing unread: the
 * chat is on screen), so the list keeps up with the chat before the stream hears of them.
 * It stops before the first event the list cannot fold alone and says where (`stoppedAt`):
 * that one and what follows are left to the stream, whose fold asks for the re-read, so
 * the list's seq never passes an event it needed a read for.
 */
export function applyChatEvents(list: readonly ConversationSummary[], conversationId: string, events: readonly ConversationEvent[], me: string): { list: ConversationSummary[]; stoppedAt: number | null } {
  const stop = events.findIndex((e) => !FOLDABLE.has(e.type));
  const foldable = stop === -1 ? events : events.slice(0, stop);
  const asStream: DeviceEvent[] = foldable.map((event) => ({ kind: 'event', cursor: 0, conversationId, event }));
  const known = list.some((c) => c.id === conversationId);
  return { list: known ? applyInboxEvents(list, asStream, me, conversationId).list : [...list], stoppedAt: stop === -1 ? null : events[stop]!.seq };
}

/**
 * The line a plain (not end-to-end encrypted) conversation shows under its title: the
 * last message, or that it was deleted (live, after a reload, on any device: the service
 * marks the preview `deleted`), or the conversation's kind when there is nothing to show.
 */
export function previewText(item: Pick<ConversationSummary, 'kind' | 'preview'>): string {
  if (item.preview?.deleted) return DELETED_PREVIEW;
  return item.preview?.text ?? (item.kind === 'group' ? 'Group' : 'Direct chat');
}

export interface ListAnswer {
  list: ConversationSummary[];
  /** Conversations kept from the stream that the answer lacks: read again to confirm them. */
  confirm: boolean;
}

/**
 * A list read's answer merged with the list shown, which events may have moved past the
 * answer while it was on its way: per conversation, whichever has seen the later seq
 * (the answer on a tie: its unread count and watermark are the service's). When events
 * were folded during the read, conversations the answer lacks may have arrived meanwhile:
 * they are kept, and the list is read again to confirm them (one left meanwhile goes then).
 */
export function reconcileList(answer: readonly ConversationSummary[], shown: readonly ConversationSummary[] | null, foldedDuringRead: boolean): ListAnswer {
  const current = new Map((shown ?? []).map((c) => [c.id, c]));
  const list = answer.map((item) => {
    const folded = current.get(item.id);
    return folded && folded.lastSeq > item.lastSeq ? folded : item;
  });
  const answered = new Set(answer.map((c) => c.id));
  const kept = foldedDuringRead ? (shown ?? []).filter((c) => !answered.has(c.id)) : [];
  return { list: sortByActivity([...list, ...kept]), confirm: kept.length > 0 };
}

/** Newest activity first, as the service sorts it. */
export function sortByActivity(list: ConversationSummary[]): ConversationSummary[] {
  return list.sort((a, b) => b.lastActivityAt - a.lastActivityAt);
}
