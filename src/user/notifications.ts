/**
 * @module user/notifications
 * Which events that reached a user with no online device become push notifications:
 * the first message from someone else in each conversation of a batch (the push module
 * then collapses a burst to one notification per conversation).
 */
import { PUSH_LIMITS, previewOf, type DeviceEvent } from '../protocol/index.js';
import type { PushJob } from '../push/jobs.js';

export type PushCandidate = Omit<PushJob, 'senderName'> & { senderId: string };

export function pushCandidates(
  userId: string,
  events: DeviceEvent[],
  describe: (conversationId: string) => { kind: 'direct' | 'group'; title: string | null; encrypted?: boolean } | null,
): PushCandidate[] {
  const seen = new Set<string>();
  const candidates: PushCandidate[] = [];
  for (const item of events) {
    // Only what the user may read: not their own, not a message deleted or hidden for them (a blocked author's).
    if (item.kind !== 'event' || item.event.type !== 'message' || item.event.author.userId === userId) continue;
    if (item.event.hidden || item.event.deleted || !item.event.content) continue;
    if (seen.has(item.conversationId)) continue;
    const conversation = describe(item.conversationId);
    if (!conversation) continue;
    seen.add(item.conversationId);
    // End-to-end encrypted: the job carries no text and no title, and becomes "New message" (src/push/jobs.ts).
    const e2e = conversation.encrypted === true || item.event.content.type === 'encrypted';
    candidates.push({
      userId,
      conversationId: item.conversationId,
      conversationKind: conversation.kind,
      conversationTitle: e2e ? null : conversation.title,
      senderId: item.event.author.userId,
      seq: item.event.seq,
      preview: e2e ? null : (previewOf(item.event, PUSH_LIMITS.maxPreviewLength)?.text ?? null),
      e2e,
    });
  }
  return candidates;
}
