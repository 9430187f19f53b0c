/**
 * @module web/lib/open-chat
 * The open chat's live events, handed to the conversation list as they arrive, so the
 * list keeps up with the chat on screen (lib/inbox.ts `applyChatEvents`) instead of
 * waiting for the device event stream: a user watching a chat hears of it on that stream
 * at most once per FANOUT_WATCHING_INTERVAL_MS (docs/PROTOCOL.md).
 */
import type { ConversationEvent } from '../../client/index.js';

type Listener = (conversationId: string, event: ConversationEvent) => void;

const listeners = new Set<Listener>();

export function publishChatEvent(conversationId: string, event: ConversationEvent): void {
  for (const listener of listeners) listener(conversationId, event);
}

/** Calls `listener` with each live event of the open chat; returns what stops it. */
export function onChatEvent(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
