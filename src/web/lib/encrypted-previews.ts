/**
 * @module web/lib/encrypted-previews
 * What the conversation list shows for an end-to-end encrypted conversation, whose
 * preview the service cannot make: the last message as this device decrypted it, when it
 * has it, else "Encrypted message". A chat on screen notes its last message and how far
 * it has read (`upTo`); after a reload the kept messages (lib/message-cache.ts) say the
 * same. A newer message this device has not read yet shows as "Encrypted message".
 * The rule (`encryptedPreviewText`) is pure, so it is unit tested in Node.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ConversationSummary, MessageEvent } from '../../client/index.js';
import { INBOX, previewOf } from '../../protocol/index.js';
import { DELETED_PREVIEW, ENCRYPTED_PREVIEW } from './inbox.js';

export { ENCRYPTED_PREVIEW };
export const NO_MESSAGES_PREVIEW = 'End-to-end encrypted';
export const UNDECRYPTABLE_PREVIEW = 'Message not decrypted on this device';

export interface KnownPreview {
  /** The last message's seq, and its text as shown. */
  seq: number;
  text: string;
  /** The conversation's seq this device had read up to when it saw that message last. */
  upTo: number;
}

const known = new Map<string, KnownPreview>();
const listeners = new Set<() => void>();

/** The last of `messages` (seq order), for the list, once a chat has shown them up to seq `upTo`. */
export function notePreview(conversationId: string, messages: readonly MessageEvent[], upTo: number): void {
  const last = messages.filter((m) => !m.hidden).at(-1);
  if (!last) return;
  const before = known.get(conversationId);
  if (before && before.upTo > upTo) return;
  const text = last.deleted ? DELETED_PREVIEW : last.content?.type === 'encrypted' ? UNDECRYPTABLE_PREVIEW : (previewOf(last, INBOX.maxPreviewLength)?.text ?? ENCRYPTED_PREVIEW);
  if (before && before.seq === last.seq && before.text === text && before.upTo === upTo) return;
  known.set(conversationId, { seq: last.seq, text, upTo });
  for (const listener of listeners) listener();
}

export function knownPreview(conversationId: string): KnownPreview | null {
  return known.get(conversationId) ?? null;
}

/** Forgets every preview (sign-out). */
export function forgetPreviews(): void {
  known.clear();
  for (const listener of listeners) listener();
}

/**
 * The list's line for an encrypted conversation. `item.preview`, when the device event
 * stream set it (lib/inbox.ts), names the last message's seq; otherwise the summary's
 * `lastSeq` bounds it.
 */
export function encryptedPreviewText(item: Pick<ConversationSummary, 'lastSeq' | 'preview'>, kept: KnownPreview | null): string {
  // That the last message was deleted is what the service knows and marks (it never knew the text).
  if (item.preview?.deleted) return DELETED_PREVIEW;
  if (kept && kept.upTo >= (item.preview?.seq ?? item.lastSeq)) return kept.text;
  if (item.lastSeq === 0) return NO_MESSAGES_PREVIEW;
  return ENCRYPTED_PREVIEW;
}

/** Re-renders the caller when a preview is noted. */
export function usePreviewChanges(): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    const listener = () => setTick((n) => n + 1);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
}
