/**
 * @module web/lib/pending-edits
 * Edits of your messages not yet taken by the service (made offline, or in flight), kept
 * per user in localStorage so a reload or a lost network does not lose them. The latest
 * edit of a message replaces an earlier one still waiting: an edit sets the whole text.
 */
export interface PendingEdit {
  conversationId: string;
  seq: number;
  text: string;
}

const KEY = 'edge-chat.edits.';

function all(userId: string): PendingEdit[] {
  try {
    const raw = localStorage.getItem(KEY + userId);
    return raw ? (JSON.parse(raw) as PendingEdit[]) : [];
  } catch {
    return [];
  }
}

function save(userId: string, edits: PendingEdit[]): void {
  try {
    if (edits.length === 0) localStorage.removeItem(KEY + userId);
    else localStorage.setItem(KEY + userId, JSON.stringify(edits));
  } catch {
    // Storage full or refused: the edit stays in memory for this page only.
  }
}

export function pendingEdits(userId: string, conversationId: string): PendingEdit[] {
  return all(userId).filter((e) => e.conversationId === conversationId);
}

export function keepEdit(userId: string, edit: PendingEdit): void {
  save(userId, [...all(userId).filter((e) => e.conversationId !== edit.conversationId || e.seq !== edit.seq), edit]);
}

/** Forgets `edit` once taken or refused; a newer edit of the same message queued meanwhile stays. */
export function dropEdit(userId: string, edit: PendingEdit): void {
  save(userId, all(userId).filter((e) => e.conversationId !== edit.conversationId || e.seq !== edit.seq || e.text !== edit.text));
}

export function forgetEdits(userId: string): void {
  save(userId, []);
}
