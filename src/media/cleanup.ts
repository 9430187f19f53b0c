/**
 * @module media/cleanup
 * Deleting media: the hourly orphan sweep (uploads no message refers to within
 * MEDIA.orphanAfterMs), and `deleteMediaOf` for media of messages deleted for everyone.
 */
import type { Env } from '../env.js';
import { MEDIA } from '../protocol/index.js';
import * as store from './store.js';
import { conversationStub, mediaBucket } from '../placement.js';

/** Rows looked at per sweep; the next hourly run takes the rest. */
const SWEEP_BATCH = 500;

export interface SweepResult {
  deleted: string[];
  kept: string[];
}

/**
 * Deletes uploads older than MEDIA.orphanAfterMs that no message refers to. Unfinished
 * uploads go at once. Finished ones are confirmed with their conversation first, which
 * tombstones the unreferenced ones in the same step, so a message can never come to
 * refer to a blob this sweep deletes; referenced ones are marked and not asked again.
 */
export async function sweepOrphans(env: Env, now = Date.now()): Promise<SweepResult> {
  const rows = await store.staleUnreferenced(env.DB, now - MEDIA.orphanAfterMs, SWEEP_BATCH);
  const doomed = rows.filter((r) => r.state !== 'ready');
  const kept: string[] = [];
  const byConversation = new Map<string, store.MediaRow[]>();
  for (const row of rows.filter((r) => r.state === 'ready')) {
    const list = byConversation.get(row.conversation_id) ?? [];
    list.push(row);
    byConversation.set(row.conversation_id, list);
  }
  for (const [conversationId, list] of byConversation) {
    const verdict = await conversationStub(env, conversationId).claimOrphanedMedia(list.map((r) => r.id));
    await store.markReferenced(env.DB, verdict.referenced, now);
    kept.push(...verdict.referenced);
    doomed.push(...list.filter((r) => verdict.orphaned.includes(r.id)));
  }
  await removeBlobs(env, doomed);
  return { deleted: doomed.map((r) => r.id), kept };
}

/**
 * Deletes media for good: R2 blob, thumbnail, unfinished multipart upload, D1 row.
 * For a message deleted for everyone, the ConversationDO first calls
 * `forget(sql, mediaIdsOf(content), now)` (src/conversation/media.ts) inside its
 * synchronous delete, then `ctx.waitUntil(deleteMediaOf(env, ids))`.
 */
export async function deleteMediaOf(env: Env, mediaIds: string[]): Promise<void> {
  const rows = (await Promise.all(mediaIds.map((id) => store.get(env.DB, id)))).filter((r): r is store.MediaRow => r !== null);
  await removeBlobs(env, rows);
}

async function removeBlobs(env: Env, rows: store.MediaRow[]): Promise<void> {
  if (rows.length === 0) return;
  // Each row's blobs are in its conversation's bucket (src/placement.ts).
  const byBucket = new Map<R2Bucket, store.MediaRow[]>();
  for (const row of rows) {
    const bucket = mediaBucket(env, row.conversation_id);
    byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), row]);
    if (row.upload_id && row.state !== 'ready') {
      await bucket.resumeMultipartUpload(row.r2_key, row.upload_id).abort().catch(() => undefined);
    }
  }
  for (const [bucket, list] of byBucket) await bucket.delete(list.flatMap((r) => [r.r2_key, store.thumbnailKey(r.id)]));
  await store.remove(env.DB, rows.map((r) => r.id));
}
