/**
 * What the message list shows between messages: a separator where the day changes (in the
 * reader's time zone), and the "N new messages" divider before the first message from
 * someone else that was unread when the chat was opened.
 */
import type { MessageEvent } from '../../client/index.js';

export type Mark = { kind: 'day'; label: string } | { kind: 'unread'; count: number };

const DAY_MS = 24 * 60 * 60 * 1_000;

export interface MarkContext {
  me: string;
  /** The reader's read watermark as the chat was opened (null: unknown, no divider). */
  readSeqAtOpen: number | null;
  /** Older history exists that is not loaded. */
  hasOlder: boolean;
  /** The newest seq when the chat was opened: what arrives while it is on screen is not "new" (default: no bound). */
  openedAt?: number;
  now?: number;
}

/**
 * The marks to show before each message (keyed by its seq), for `messages` in seq order.
 * The divider stays where it was put while the chat is open, even as the messages are
 * read. While older history is not loaded and nothing read is, the first unread message
 * may lie further back: no divider rather than a wrong one.
 */
export function marksBefore(messages: readonly MessageEvent[], context: MarkContext): Map<number, Mark[]> {
  const { me, readSeqAtOpen, hasOlder, openedAt = Number.POSITIVE_INFINITY, now = Date.now() } = context;
  const marks = new Map<number, Mark[]>();
  const add = (seq: number, mark: Mark) => marks.set(seq, [...(marks.get(seq) ?? []), mark]);
  let previousDay: string | null = null;
  for (const m of messages) {
    const day = dayKey(m.ts);
    if (day !== previousDay) add(m.seq, { kind: 'day', label: dayLabel(m.ts, now) });
    previousDay = day;
  }
  if (readSeqAtOpen !== null && !(hasOlder && (messages[0]?.seq ?? 0) > readSeqAtOpen)) {
    const unread = messages.filter((m) => m.seq > readSeqAtOpen && m.seq <= openedAt && m.author.userId !== me);
    if (unread.length > 0) add(unread[0]!.seq, { kind: 'unread', count: unread.length });
  }
  return marks;
}

/** "Today", "Yesterday", a weekday within the last week, else the date (with its year when not this one). */
export function dayLabel(ts: number, now = Date.now()): string {
  const days = Math.round((startOfDay(now) - startOfDay(ts)) / DAY_MS);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  const date = new Date(ts);
  if (days > 1 && days < 7) return date.toLocaleDateString(undefined, { weekday: 'long' });
  const sameYear = date.getFullYear() === new Date(now).getFullYear();
  return date.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'long', ...(sameYear ? {} : { year: 'numeric' }) });
}

function dayKey(ts: number): string {
  const date = new Date(ts);
  return `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
}

/** Local midnight; rounding the difference absorbs a daylight-saving hour. */
function startOfDay(ts: number): number {
  const date = new Date(ts);
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

/** Whether older pages must be read before the chat is placed at its first unread message. */
export function firstUnreadNotLoaded(messages: readonly MessageEvent[], readSeqAtOpen: number | null, hasOlder: boolean): boolean {
  return readSeqAtOpen !== null && hasOlder && messages.length > 0 && messages[0]!.seq > readSeqAtOpen + 1;
}
