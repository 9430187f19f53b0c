/**
 * @module conversation/media
 * The conversation's own register of media uploaded to it. The send path checks a
 * message's media reference here with one synchronous SQL lookup (accept() never
 * awaits, so a socket's messages keep their order), and downloads ask it whether a
 * caller may read an item, so a removed member loses access at once (a blocker never
 * gets the blocked uploader's items: ConversationDO `mediaAccess` applies the block rule).
 */
import { AppError } from '../errors.js';
import { mediaIdsOf, type MediaInfo, type MessageContent } from '../protocol/index.js';

interface MediaRow {
  media_id: string;
  uploader_id: string;
  info: string;
  referenced_seq: number | null;
  deleted_at: number | null;
  [key: string]: SqlStorageValue;
}

/** Records a finished upload; registering again changes nothing (and never revives a deleted item). */
export function register(sql: SqlStorage, uploaderId: string, info: MediaInfo, now: number): void {
  sql.exec(
    'INSERT INTO media (media_id, uploader_id, info, registered_at) VALUES (?, ?, ?, ?) ON CONFLICT (media_id) DO NOTHING',
    info.mediaId,
    uploaderId,
    JSON.stringify(info),
    now,
  );
}

function find(sql: SqlStorage, mediaId: string): MediaRow | null {
  return sql.exec<MediaRow>('SELECT * FROM media WHERE media_id = ?', mediaId).toArray()[0] ?? null;
}

function ownLive(sql: SqlStorage, senderId: string, mediaId: string): MediaInfo {
  const row = find(sql, mediaId);
  if (!row || row.deleted_at !== null || row.uploader_id !== senderId) {
    throw new AppError('media_not_found', `No media ${mediaId} uploaded by you to this conversation.`);
  }
  return JSON.parse(row.info) as MediaInfo;
}

/**
 * Checks a message's media against the register and returns the content as stored:
 * only media the sender uploaded to this conversation may be referenced, and the
 * type, size, dimensions and thumbnail are the server's, not the client's. An encrypted
 * envelope may refer only to media uploaded as encrypted, and is stored unchanged.
 */
export function resolve(sql: SqlStorage, senderId: string, content: MessageContent): MessageContent {
  if (content.type === 'encrypted') {
    // The envelope is stored as sent (the server cannot read what it says of its media):
    // each item must be the sender's, uploaded here as encrypted.
    for (const id of content.mediaIds ?? []) {
      if (!ownLive(sql, senderId, id).encrypted) throw new AppError('media_not_found', `No encrypted media ${id} uploaded by you to this conversation.`);
    }
    return content;
  }
  if (content.type !== 'media') return content;
  const info = ownLive(sql, senderId, content.mediaId);
  if (content.thumbnailId) ownLive(sql, senderId, content.thumbnailId);
  const { contentType: _t, size: _s, encrypted: _e, width: _w, height: _h, thumbnail: _th, ...chosen } = content;
  const { mediaId: _id, ...known } = info;
  return { ...chosen, ...known };
}

/** Marks the media a stored message refers to, keeping the first referencing seq. */
export function markReferenced(sql: SqlStorage, content: MessageContent, seq: number): void {
  for (const id of mediaIdsOf(content)) {
    sql.exec('UPDATE media SET referenced_seq = coalesce(referenced_seq, ?) WHERE media_id = ?', seq, id);
  }
}

/**
 * Whether `userId` (already known to be a member) may download, as far as the register
 * says: shared in a message, or their own upload. Returns the item's uploader (null: not
 * readable), for the block rule the caller applies (ConversationDO `mediaAccess`).
 */
export function canRead(sql: SqlStorage, userId: string, mediaId: string): { uploaderId: string } | null {
  const row = find(sql, mediaId);
  if (!row || row.deleted_at !== null) return null;
  return row.referenced_seq !== null || row.uploader_id === userId ? { uploaderId: row.uploader_id } : null;
}

/**
 * For the orphan sweep: items no message refers to are marked deleted here, in the same
 * synchronous step that decides it, so no message can start referring to them after.
 * Ids this object never registered are tombstoned too.
 */
export function claimOrphans(sql: SqlStorage, mediaIds: string[], now: number): { orphaned: string[]; referenced: string[] } {
  const orphaned: string[] = [];
  const referenced: string[] = [];
  for (const id of mediaIds) {
    const row = find(sql, id);
    if (row && row.referenced_seq !== null && row.deleted_at === null) {
      referenced.push(id);
      continue;
    }
    if (row) sql.exec('UPDATE media SET deleted_at = coalesce(deleted_at, ?) WHERE media_id = ?', now, id);
    else sql.exec("INSERT INTO media (media_id, uploader_id, info, registered_at, deleted_at) VALUES (?, '', '{}', ?, ?)", id, now, now);
    orphaned.push(id);
  }
  return { orphaned, referenced };
}

/**
 * Forgets media of a message deleted for everyone: downloads and new references are
 * refused from now on. Call it inside the delete's synchronous write, then remove the
 * blobs with `deleteMediaOf` (src/media/cleanup.ts) from waitUntil.
 */
export function forget(sql: SqlStorage, mediaIds: string[], now: number): void {
  for (const id of mediaIds) sql.exec('UPDATE media SET deleted_at = coalesce(deleted_at, ?) WHERE media_id = ?', now, id);
}
