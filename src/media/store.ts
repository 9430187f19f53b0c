/**
 * @module media/store
 * Media metadata in D1 (migrations/0002_media.sql): the row behind each upload and the
 * parts of multipart uploads. State changes are single conditional UPDATEs, so two
 * requests racing for the same single-use URL cannot both win.
 */
import type { MediaInfo, MediaType } from '../protocol/index.js';
import { MEDIA } from '../protocol/index.js';

export type MediaState = 'pending' | 'uploading' | 'ready' | 'failed';

export interface MediaRow {
  id: string;
  owner_id: string;
  conversation_id: string;
  r2_key: string;
  declared_type: MediaType;
  content_type: MediaType | null;
  size: number;
  sha256: string;
  encrypted: number;
  state: MediaState;
  upload_id: string | null;
  width: number | null;
  height: number | null;
  thumbnail_key: string | null;
  thumbnail_width: number | null;
  thumbnail_height: number | null;
  created_at: number;
  completed_at: number | null;
  referenced_at: number | null;
}

export const blobKey = (mediaId: string) => `media/${mediaId}`;
export const thumbnailKey = (mediaId: string) => `thumb/${mediaId}`;

export interface NewMedia {
  id: string;
  ownerId: string;
  conversationId: string;
  contentType: MediaType;
  size: number;
  sha256: string;
  encrypted: boolean;
  uploadId: string | null;
  now: number;
}

export async function insert(db: D1Database, media: NewMedia): Promise<void> {
  await db
    .prepare(
      `INSERT INTO media (id, owner_id, conversation_id, r2_key, declared_type, size, sha256, encrypted, state, upload_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
    )
    .bind(media.id, media.ownerId, media.conversationId, blobKey(media.id), media.contentType, media.size, media.sha256, media.encrypted ? 1 : 0, media.uploadId, media.now)
    .run();
}

export async function get(db: D1Database, id: string): Promise<MediaRow | null> {
  return db.prepare('SELECT * FROM media WHERE id = ?').bind(id).first<MediaRow>();
}

/** Moves `from` → `to` if the row is still in `from`; returns the row only to the winner. */
export async function transition(db: D1Database, id: string, from: MediaState, to: MediaState): Promise<MediaRow | null> {
  return db.prepare('UPDATE media SET state = ? WHERE id = ? AND state = ? RETURNING *').bind(to, id, from).first<MediaRow>();
}

export interface Completion {
  contentType: MediaType;
  width: number | null;
  height: number | null;
  thumbnail: { key: string; width: number; height: number } | null;
  now: number;
}

export async function markReady(db: D1Database, id: string, done: Completion): Promise<void> {
  await db
    .prepare(
      `UPDATE media SET state = 'ready', content_type = ?, width = ?, height = ?, thumbnail_key = ?, thumbnail_width = ?,
       thumbnail_height = ?, completed_at = ?, upload_id = NULL WHERE id = ?`,
    )
    .bind(done.contentType, done.width, done.height, done.thumbnail?.key ?? null, done.thumbnail?.width ?? null, done.thumbnail?.height ?? null, done.now, id)
    .run();
}

export async function putPart(db: D1Database, mediaId: string, part: number, etag: string, size: number): Promise<void> {
  await db
    .prepare('INSERT INTO media_parts (media_id, part_number, etag, size) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET etag = excluded.etag, size = excluded.size')
    .bind(mediaId, part, etag, size)
    .run();
}

export async function listParts(db: D1Database, mediaId: string): Promise<{ part_number: number; etag: string; size: number }[]> {
  const { results } = await db.prepare('SELECT part_number, etag, size FROM media_parts WHERE media_id = ? ORDER BY part_number').bind(mediaId).all<{ part_number: number; etag: string; size: number }>();
  return results;
}

/** Removes rows (and their parts) for good. */
export async function remove(db: D1Database, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.batch(ids.flatMap((id) => [db.prepare('DELETE FROM media_parts WHERE media_id = ?').bind(id), db.prepare('DELETE FROM media WHERE id = ?').bind(id)]));
}

export async function markReferenced(db: D1Database, ids: string[], now: number): Promise<void> {
  if (ids.length === 0) return;
  await db.batch(ids.map((id) => db.prepare('UPDATE media SET referenced_at = ? WHERE id = ?').bind(now, id)));
}

/** Rows that have waited past the orphan deadline without a confirmed reference. */
export async function staleUnreferenced(db: D1Database, before: number, limit: number): Promise<MediaRow[]> {
  const { results } = await db
    .prepare('SELECT * FROM media WHERE referenced_at IS NULL AND created_at < ? ORDER BY created_at LIMIT ?')
    .bind(before, limit)
    .all<MediaRow>();
  return results;
}

/** Bytes in part `n` (1-based) of a file of `size` bytes. */
export function partLength(size: number, n: number): number {
  return Math.min(MEDIA.partSize, size - (n - 1) * MEDIA.partSize);
}

export function partCount(size: number): number {
  return Math.ceil(size / MEDIA.partSize);
}

export function toInfo(row: MediaRow): MediaInfo {
  const info: MediaInfo = { mediaId: row.id, contentType: row.content_type ?? row.declared_type, size: row.size, encrypted: row.encrypted === 1 };
  if (row.width !== null && row.height !== null) Object.assign(info, { width: row.width, height: row.height });
  if (row.thumbnail_key && row.thumbnail_width && row.thumbnail_height) {
    info.thumbnail = { width: row.thumbnail_width, height: row.thumbnail_height, contentType: MEDIA.thumbnailType };
  }
  return info;
}
