/**
 * @module media/upload
 * The upload life cycle: grant (a media id and signed URLs), store (one request, or
 * parts of an R2 multipart upload), verify (length, SHA-256, magic bytes), then finish
 * (thumbnail, D1 row ready, registered in the ConversationDO so messages may refer to
 * it). Until it is finished, nothing is downloadable; anything unfinished is swept by
 * the orphan cleanup.
 */
import type { Env, Identity } from '../env.js';
import { AppError, unwrap } from '../errors.js';
import { randomToken } from '../ids.js';
import { MEDIA, MEDIA_TYPES, type CreateUploadBody, type MediaInfo, type MediaType, type UploadStatus, type UploadTicket } from '../protocol/index.js';
import { signedQuery, verify, type UploadGrant } from './signing.js';
import { imageDimensions, typeMatches } from './sniff.js';
import * as store from './store.js';
import { inspect, sha256Hex, uploadError } from './stream.js';
import { makeThumbnail, wantsThumbnail } from './thumbnail.js';
import { conversationStub, mediaBucket } from '../placement.js';

/** Checks the declared size against the limit of its kind (413 beyond it). */
export function checkSize(contentType: MediaType, size: number): void {
  const kind = MEDIA_TYPES[contentType];
  const max = MEDIA.maxBytes[kind];
  if (size > max) throw new AppError('payload_too_large', `${kind} uploads are limited to ${max} bytes (${Math.floor(max / 1024 / 1024)} MiB).`);
}

/** Creates the media row and signs the URLs for it. The caller has checked membership. */
export async function grantUpload(env: Env, secret: string, origin: string, identity: Identity, body: CreateUploadBody, now = Date.now()): Promise<UploadTicket> {
  checkSize(body.contentType, body.size);
  if (body.encrypted && body.contentType !== 'application/octet-stream') {
    throw new AppError('invalid_request', 'Encrypted uploads are ciphertext: declare application/octet-stream.');
  }
  const id = `m_${randomToken(16)}`;
  const multipart = body.size > MEDIA.multipartThreshold;
  const uploadId = multipart ? (await mediaBucket(env, body.conversationId).createMultipartUpload(store.blobKey(id), { httpMetadata: { contentType: body.contentType } })).uploadId : null;
  await store.insert(env.DB, { id, ownerId: identity.userId, conversationId: body.conversationId, contentType: body.contentType, size: body.size, sha256: body.sha256, encrypted: body.encrypted, uploadId, now });
  const expiresAt = now + (multipart ? MEDIA.multipartUrlTtlMs : MEDIA.uploadUrlTtlMs);
  const base = `${origin}/v1/media/upload/${id}`;
  const grant = (action: UploadGrant['action'], part: number, size: number): UploadGrant => ({ action, mediaId: id, part, size, contentType: body.contentType, expiresAt });
  const url = async (path: string, g: UploadGrant) => `${base}${path}?${await signedQuery(secret, g)}`;
  if (!multipart) return { mediaId: id, expiresAt, upload: { kind: 'single', url: await url('', grant('put', 0, body.size)) } };
  const parts = await Promise.all(
    Array.from({ length: store.partCount(body.size) }, (_, i) => url(`/parts/${i + 1}`, grant('part', i + 1, store.partLength(body.size, i + 1)))),
  );
  return {
    mediaId: id,
    expiresAt,
    upload: {
      kind: 'multipart',
      partSize: MEDIA.partSize,
      parts,
      complete: await url('/complete', grant('complete', 0, body.size)),
      status: await url('/status', grant('status', 0, body.size)),
    },
  };
}

/** What a signed URL claims, read from its path and query; verified before anything else happens. */
export async function checkGrant(secret: string, grant: Omit<UploadGrant, 'size' | 'contentType' | 'expiresAt'>, query: URLSearchParams, now = Date.now()): Promise<UploadGrant> {
  const size = Number(query.get('size'));
  const expiresAt = Number(query.get('exp'));
  const contentType = query.get('type') ?? '';
  const full: UploadGrant = { ...grant, size, contentType, expiresAt };
  const valid = Number.isSafeInteger(size) && Number.isSafeInteger(expiresAt) && (await verify(secret, full, query.get('sig') ?? ''));
  if (!valid) throw new AppError('invalid_upload_url', 'This upload URL is not valid (altered or not ours).');
  if (expiresAt <= now) throw new AppError('invalid_upload_url', 'This upload URL has expired; ask for a new one.');
  return full;
}

/** The body must declare exactly the signed length, so nothing is read when it does not. */
function checkContentLength(request: Request, size: number): void {
  const declared = request.headers.get('content-length');
  if (declared === null) throw new AppError('upload_mismatch', `Send Content-Length: ${size}.`);
  const length = Number(declared);
  if (length > size) throw new AppError('payload_too_large', `This URL accepts exactly ${size} bytes.`);
  if (length !== size) throw new AppError('upload_mismatch', `This URL accepts exactly ${size} bytes, not ${declared}.`);
  if (!request.body) throw new AppError('upload_mismatch', 'The request has no body.');
}

/** A single-request upload: claim the URL (single use), stream into R2 with its SHA-256 checked by R2, finish. */
export async function putWhole(env: Env, grant: UploadGrant, request: Request): Promise<MediaInfo> {
  checkContentLength(request, grant.size);
  const row = await store.transition(env.DB, grant.mediaId, 'pending', 'uploading');
  if (!row || row.upload_id !== null) throw new AppError('invalid_upload_url', 'This upload URL has already been used.');
  const piped = inspect(request.body!, grant.size, row.declared_type);
  try {
    await mediaBucket(env, row.conversation_id).put(row.r2_key, piped.readable, { sha256: row.sha256, httpMetadata: { contentType: row.declared_type } });
  } catch (err) {
    // R2 commits nothing on a failed put; the URL may be used again until it expires.
    await store.transition(env.DB, row.id, 'uploading', 'pending');
    throw piped.failure() ?? uploadError(err);
  }
  return finish(env, row, piped.prefix());
}

/** One part of a multipart upload; may be sent again (resume) until the upload completes. */
export async function putPart(env: Env, grant: UploadGrant, request: Request): Promise<{ part: number; size: number }> {
  checkContentLength(request, grant.size);
  const row = await store.get(env.DB, grant.mediaId);
  if (!row || row.state !== 'pending' || !row.upload_id) throw new AppError('invalid_upload_url', 'This upload is already complete or gone.');
  const piped = inspect(request.body!, grant.size, grant.part === 1 ? row.declared_type : null);
  let etag: string;
  try {
    etag = (await mediaBucket(env, row.conversation_id).resumeMultipartUpload(row.r2_key, row.upload_id).uploadPart(grant.part, piped.readable)).etag;
  } catch (err) {
    throw piped.failure() ?? uploadError(err);
  }
  await store.putPart(env.DB, row.id, grant.part, etag, grant.size);
  return { part: grant.part, size: grant.size };
}

export async function status(env: Env, grant: UploadGrant): Promise<UploadStatus> {
  const row = await store.get(env.DB, grant.mediaId);
  if (!row) throw new AppError('media_not_found', 'No such upload.');
  const stored = row.state === 'ready' ? Array.from({ length: store.partCount(row.size) }, (_, i) => i + 1) : (await store.listParts(env.DB, row.id)).map((p) => p.part_number);
  return { mediaId: row.id, partSize: MEDIA.partSize, partCount: store.partCount(row.size), stored };
}

/**
 * Completes a multipart upload (single use): every part present at its exact size, then
 * the whole object's SHA-256 is recomputed from R2 (streamed) since no single request saw
 * all the bytes. A mismatch deletes the object.
 */
export async function complete(env: Env, grant: UploadGrant): Promise<MediaInfo> {
  const row = await store.transition(env.DB, grant.mediaId, 'pending', 'uploading');
  if (!row || !row.upload_id) throw new AppError('invalid_upload_url', 'This upload URL has already been used.');
  const parts = await store.listParts(env.DB, row.id);
  const expected = store.partCount(row.size);
  const missing = Array.from({ length: expected }, (_, i) => i + 1).filter((n) => parts.find((p) => p.part_number === n)?.size !== store.partLength(row.size, n));
  if (missing.length > 0) {
    await store.transition(env.DB, row.id, 'uploading', 'pending');
    throw new AppError('upload_mismatch', `Parts missing or of the wrong size: ${missing.slice(0, 10).join(', ')}.`);
  }
  await mediaBucket(env, row.conversation_id).resumeMultipartUpload(row.r2_key, row.upload_id).complete(parts.map((p) => ({ partNumber: p.part_number, etag: p.etag })));
  const object = await mediaBucket(env, row.conversation_id).get(row.r2_key);
  const actual = object ? await sha256Hex(object.body) : '';
  if (actual !== row.sha256) {
    await mediaBucket(env, row.conversation_id).delete(row.r2_key);
    await store.transition(env.DB, row.id, 'uploading', 'failed');
    throw new AppError('upload_mismatch', 'The bytes do not match the declared SHA-256; nothing was kept. Start a new upload.');
  }
  const head = await mediaBucket(env, row.conversation_id).get(row.r2_key, { range: { offset: 0, length: Math.min(row.size, 256 * 1024) } });
  const prefix = head ? new Uint8Array(await head.arrayBuffer()) : new Uint8Array(0);
  if (!typeMatches(row.declared_type, prefix)) {
    await mediaBucket(env, row.conversation_id).delete(row.r2_key);
    await store.transition(env.DB, row.id, 'uploading', 'failed');
    throw new AppError('unsupported_media_type', `The file's bytes are not ${row.declared_type}.`);
  }
  return finish(env, row, prefix);
}

/** Thumbnail, D1 row ready, then registration in the conversation (which makes it referable). */
async function finish(env: Env, row: store.MediaRow, prefix: Uint8Array): Promise<MediaInfo> {
  const contentType = row.declared_type;
  const encrypted = row.encrypted === 1;
  const size = encrypted ? null : imageDimensions(contentType, prefix);
  const thumbnail = wantsThumbnail(contentType, encrypted) ? await makeThumbnail(env, mediaBucket(env, row.conversation_id), row.id, row.r2_key) : null;
  await store.markReady(env.DB, row.id, { contentType, width: size?.width ?? null, height: size?.height ?? null, thumbnail, now: Date.now() });
  const info = store.toInfo({ ...row, state: 'ready', content_type: contentType, width: size?.width ?? null, height: size?.height ?? null, thumbnail_key: thumbnail?.key ?? null, thumbnail_width: thumbnail?.width ?? null, thumbnail_height: thumbnail?.height ?? null });
  unwrap(await conversationStub(env, row.conversation_id).registerMedia(row.owner_id, info));
  return info;
}
