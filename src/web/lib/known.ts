/**
 * @module web/lib/known
 * What the app last heard about each conversation (the list's summaries), so a chat can
 * show its title and kind at once, also while offline, before its own details arrive.
 */
import type { ConversationSummary } from '../../client/index.js';

const summaries = new Map<string, ConversationSummary>();

export function rememberSummaries(list: readonly ConversationSummary[]): void {
  for (const item of list) summaries.set(item.id, item);
}

export function knownSummary(id: string): ConversationSummary | null {
  return summaries.get(id) ?? null;
}
