/**
 * @module protocol/preview
 * The short preview of a message shown in the conversation list.
 */
import type { MessageEvent } from './events.js';
import type { MessagePreview } from './http.js';

/**
 * The preview of a message, or null when it cannot be shown. Only plain text has one:
 * content kinds added later (end-to-end encrypted envelopes) fall to null, so the server
 * never derives a preview from what it cannot read.
 */
export function previewOf(event: Pick<MessageEvent, 'seq' | 'author' | 'content'>, maxLength: number): MessagePreview | null {
  const content = event.content;
  switch (content.type) {
    case 'text': {
      const flat = content.text.replace(/\s+/g, ' ').trim();
      const text = flat.length <= maxLength ? flat : `${flat.slice(0, maxLength - 1)}…`;
      return { seq: event.seq, authorId: event.author.userId, text };
    }
    default:
      return null;
  }
}
