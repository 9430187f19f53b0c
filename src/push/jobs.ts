/**
 * @module push/jobs
 * What the UserDO hands to push (a `PushJob`, also the queue message) and the
 * notification it becomes. Pure functions: no I/O.
 */
import { z } from 'zod';
import { ConversationId, PUSH_LIMITS, Rid, Seq, UserId, type PushPayload } from '../protocol/index.js';

/** One event that reached a user none of whose devices is online. */
export const PushJob = z.object({
  userId: UserId,
  conversationId: ConversationId,
  conversationKind: z.enum(['direct', 'group']),
  /** The group's title; null for direct conversations. */
  conversationTitle: z.string().nullable(),
  /** Who sent it: the display name if the caller has it, else the user id. */
  senderName: z.string().min(1),
  seq: Seq,
  /** The message text, or null when there is none to show (media, or any non-text event). */
  preview: z.string().nullable(),
  /** End-to-end encrypted: the server has no text, and names nobody in the notification. */
  e2e: z.boolean(),
  /** The request id of the send that caused it, when known: on the consumer's log lines (src/log.ts). */
  rid: Rid.optional(),
});
export type PushJob = z.infer<typeof PushJob>;

/** The notification shown for an end-to-end encrypted conversation: nothing about it leaks. */
export const GENERIC_NOTIFICATION = { title: 'New message', body: 'Open the app to read it.' } as const;

/** The notification a job becomes. */
export function payloadFor(job: PushJob): PushPayload {
  const common = { v: 1, kind: 'message', conversationId: job.conversationId, seq: job.seq, tag: job.conversationId } as const;
  if (job.e2e) return { ...common, ...GENERIC_NOTIFICATION };
  const text = job.preview === null ? 'New message' : truncate(job.preview, PUSH_LIMITS.maxPreviewLength);
  if (job.conversationKind === 'direct') return { ...common, title: job.senderName, body: text };
  return { ...common, title: job.conversationTitle ?? 'Group', body: `${job.senderName}: ${text}` };
}

/** Cuts at a code point boundary, so an emoji is never split into half a surrogate pair. */
export function truncate(text: string, maxChars: number): string {
  const chars = Array.from(text.replace(/\s+/g, ' ').trim());
  return chars.length <= maxChars ? chars.join('') : `${chars.slice(0, maxChars - 1).join('')}…`;
}
