/**
 * @module web/lib/known
 * What the app last heard about each conversation (the list's summaries), so a chat can
 * show its title and kind at once, also while offline, before its own details arrive;
 * and the last list read, kept in localStorage per user, so the app opens offline (after
 * a reload, served by the service worker) with the list it last showed; and how far this
 * device has read, for where a chat opens.
 */
import type { ConversationSummary } from '../../client/index.js';

const summaries = new Map<string, ConversationSummary>();

export function rememberSummaries(list: readonly ConversationSummary[]): void {
  for (const item of list) summaries.set(item.id, item);
}

export function knownSummary(id: string): ConversationSummary | null {
  return summaries.get(id) ?? null;
}

/** What this device marked read, per conversation: the list's watermark follows it only later. */
const readHere = new Map<string, number>();

export function noteRead(id: string, seq: number): void {
  readHere.set(id, Math.max(seq, readHere.get(id) ?? 0));
}

/** The user's read watermark in `id` as far as this app knows (null: unknown). */
export function knownReadSeq(id: string): number | null {
  const listed = summaries.get(id)?.readSeq;
  const here = readHere.get(id);
  if (listed === undefined && here === undefined) return null;
  return Math.max(listed ?? 0, here ?? 0);
}

const LIST_KEY = 'edge-chat.list.';

/** Keeps the list for `userId` for the next start (a small JSON array: summaries only). */
export function saveList(userId: string, list: readonly ConversationSummary[]): void {
  try {
    localStorage.setItem(LIST_KEY + userId, JSON.stringify(list));
  } catch {
    // Storage full or unavailable: the list is just not there offline.
  }
}

/** The list kept for `userId`, or null. */
export function savedList(userId: string): ConversationSummary[] | null {
  try {
    const raw = localStorage.getItem(LIST_KEY + userId);
    const list = raw ? (JSON.parse(raw) as ConversationSummary[]) : null;
    if (list) rememberSummaries(list);
    return Array.isArray(list) ? list : null;
  } catch {
    return null;
  }
}

/** Forgets the list kept for `userId` (signing out: the next person on this browser must not see it). */
export function forgetList(userId: string): void {
  try {
    localStorage.removeItem(LIST_KEY + userId);
  } catch {
    // nothing kept
  }
}
