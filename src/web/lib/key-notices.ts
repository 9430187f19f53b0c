/**
 * @module web/lib/key-notices
 * The notices an end-to-end encrypted chat shows in its timeline when someone's keys
 * change: a member's device list changed (a `devices_changed` event: a device signed in
 * with new keys, or one was removed), or the identity key of a device this device talks
 * to changed (the SDK's `identityChanged`). Either way their safety number is new, and
 * the notice offers to compare it. Notices sit between messages by seq; several in a row
 * for one person (a sign-out then a sign-in) show as one. And how the safety-number
 * screen groups the digits. Pure, so it is unit tested in Node.
 */
import type { ConversationEvent, MessageEvent } from '../../client/index.js';

export interface KeyNotice {
  /** Where it goes in the timeline: an event's seq, or a fraction after the last seq known (identity changes have none). */
  seq: number;
  userId: string;
  kind: 'devices' | 'identity';
}

/** The notice an event makes, if any. */
export function noticeOf(event: ConversationEvent): KeyNotice | null {
  return event.type === 'devices_changed' ? { seq: event.seq, userId: event.userId, kind: 'devices' } : null;
}

/** What a notice says, with the person's name (`me`: the reader's own devices). */
export function noticeText(notice: KeyNotice, name: string, mine: boolean): string {
  if (mine) return notice.kind === 'devices' ? 'Your devices changed: your safety number with others is new.' : 'Your safety number changed.';
  return notice.kind === 'devices' ? `${name}'s devices changed: their safety number is new.` : `${name}'s safety number changed.`;
}

export interface PlacedNotices {
  /** Notices to show before a message, by its seq. */
  before: Map<number, KeyNotice[]>;
  /** Notices after the last message. */
  after: KeyNotice[];
}

/**
 * Puts `notices` between `messages` (both by seq). Of several notices for one person with
 * no message between them, the last stands for all. Notices older than the first message
 * shown are left out while older history is not loaded (they belong further back).
 */
export function placeNotices(messages: readonly MessageEvent[], notices: Iterable<KeyNotice>, hasOlder: boolean): PlacedNotices {
  const sorted = [...notices].sort((a, b) => a.seq - b.seq);
  const before = new Map<number, KeyNotice[]>();
  const after: KeyNotice[] = [];
  const first = messages[0]?.seq ?? Number.POSITIVE_INFINITY;
  let at = 0;
  for (const notice of sorted) {
    if (hasOlder && notice.seq < first) continue;
    while (at < messages.length && messages[at]!.seq < notice.seq) at++;
    const next = messages[at];
    const group = next ? (before.get(next.seq) ?? []) : after;
    const same = group.findIndex((n) => n.userId === notice.userId);
    if (same >= 0) group.splice(same, 1);
    group.push(notice);
    if (next) before.set(next.seq, group);
  }
  return { before, after };
}

/** A safety number as Signal shows it: 12 groups of 5 digits. */
export function digitGroups(displayable: string): string[] {
  return displayable.match(/\d{5}/g) ?? [];
}
