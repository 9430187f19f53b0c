/**
 * @module protocol/preview
 * The short preview of a message shown in the conversation list.
 */
import type { MessageEvent } from './events.js';
import type { MessagePreview } from './http.js';
import { codePointLength, codePointSlice } from './text.js';

/**
 * The preview of a message, or null when it cannot be shown: text, or a media item's
 * caption (else its kind). A deleted message (a tombstone: deleted for everyone or
 * moderated) previews as `deleted` with no text, so the list says so wherever it is read.
 * Content kinds added later (end-to-end encrypted envelopes) fall to null, so the server
 * never derives a preview from what it cannot read.
 */
export function previewOf(event: Pick<MessageEvent, 'seq' | 'author' | 'content' | 'deleted'>, maxLength: number): MessagePreview | null {
  if (event.deleted) return deletedPreview(event.seq, event.author.userId);
  const content = event.content;
  if (!content) return null;
  switch (content.type) {
    case 'text':
      return { seq: event.seq, authorId: event.author.userId, text: shorten(content.text, maxLength) };
    case 'media': {
      const kind = content.contentType?.startsWith('image/') ? 'Photo' : content.contentType?.startsWith('video/') ? 'Video' : 'File';
      return { seq: event.seq, authorId: event.author.userId, text: shorten(content.caption ?? kind, maxLength) };
    }
    default:
      return null;
  }
}

/** The preview of message `seq` once it is deleted: the mark, never its text. */
export function deletedPreview(seq: number, authorId: string): MessagePreview {
  return { seq, authorId, text: '', deleted: true };
}

/** At most `maxLength` code points, the last one `…` when cut. */
function shorten(text: string, maxLength: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return codePointLength(flat) <= maxLength ? flat : `${codePointSlice(flat, maxLength - 1)}…`;
}
