/**
 * @module protocol/media
 * Media uploads and downloads: the content types the service accepts, the size limit of
 * each kind, the upload request and response bodies, and what a message says about a
 * media item so clients can render it before downloading anything.
 */
import { z } from 'zod';
import { ConversationId, OpaqueId } from './ids.js';
import { codePointString } from './text.js';

const MiB = 1024 * 1024;

/** Every media limit and lifetime, documented in docs/PROTOCOL.md ("Media"). */
export const MEDIA = {
  /** Largest upload per kind, in bytes. Larger declared sizes get 413. */
  maxBytes: { image: 25 * MiB, video: 2048 * MiB, audio: 200 * MiB, file: 500 * MiB },
  /** Uploads larger than this must use multipart (a single Worker request body is bounded). */
  multipartThreshold: 16 * MiB,
  /** Every part but the last is exactly this size (R2 needs ≥ 5 MiB and equal parts). */
  partSize: 8 * MiB,
  /** A single-request upload URL is valid this long. */
  uploadUrlTtlMs: 15 * 60 * 1000,
  /** Multipart URLs live longer so a large upload can be resumed after a dropped connection. */
  multipartUrlTtlMs: 24 * 60 * 60 * 1000,
  /** Uploads not referenced by a message within this time are deleted (cron, hourly). */
  orphanAfterMs: 24 * 60 * 60 * 1000,
  /** Server thumbnails fit inside this box, keep the aspect ratio, are never enlarged, WebP. */
  thumbnailMaxSide: 320,
  thumbnailType: 'image/webp',
  /** Longest caption, in Unicode code points (src/protocol/text.ts). */
  maxCaptionLength: 1_000,
  /** Longest opaque `sealed` payload (the app's encrypted key, digest and real type). */
  maxSealedLength: 8_192,
} as const;

/** Content types accepted for upload, by kind. Each is checked against the file's magic bytes. */
export const MEDIA_TYPES = {
  'image/jpeg': 'image',
  'image/png': 'image',
  'image/gif': 'image',
  'image/webp': 'image',
  'video/mp4': 'video',
  'video/quicktime': 'video',
  'video/webm': 'video',
  'audio/mpeg': 'audio',
  'audio/ogg': 'audio',
  'audio/mp4': 'audio',
  'application/pdf': 'file',
  /** Anything else, and every end-to-end encrypted upload (the server sees only ciphertext). */
  'application/octet-stream': 'file',
} as const;

export type MediaType = keyof typeof MEDIA_TYPES;
export type MediaKind = (typeof MEDIA_TYPES)[MediaType];
export const MediaType = z.enum(Object.keys(MEDIA_TYPES) as [MediaType, ...MediaType[]]);

export const MediaId = OpaqueId;

/** Lowercase hex SHA-256 of the exact bytes uploaded (the ciphertext, when encrypted). */
export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');

/** `POST /v1/media`: ask to upload. */
export const CreateUploadBody = z.strictObject({
  conversationId: ConversationId,
  contentType: MediaType,
  size: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  sha256: Sha256Hex,
  /** True for end-to-end encrypted media: contentType must be application/octet-stream, no server thumbnail. */
  encrypted: z.boolean().default(false),
});
export type CreateUploadBody = z.infer<typeof CreateUploadBody>;

export const SingleUpload = z.object({
  kind: z.literal('single'),
  /** `PUT` the exact bytes here, with `Content-Length`; single use. */
  url: z.string(),
});

export const MultipartUpload = z.object({
  kind: z.literal('multipart'),
  partSize: z.number().int(),
  /** `PUT` part n (1-based) to `parts[n - 1]`; a part may be sent again until completion. */
  parts: z.array(z.string()),
  /** `POST` here once every part is stored; single use. */
  complete: z.string(),
  /** `GET` here (no auth: it is signed) for the parts already stored, to resume. */
  status: z.string(),
});

export const UploadTicket = z.object({
  mediaId: MediaId,
  expiresAt: z.number().int(),
  upload: z.discriminatedUnion('kind', [SingleUpload, MultipartUpload]),
});
export type UploadTicket = z.infer<typeof UploadTicket>;

export const Thumbnail = z.object({
  width: z.number().int().min(1),
  height: z.number().int().min(1),
  contentType: z.string(),
});

/** What the service knows about a stored media item. */
export const MediaInfo = z.object({
  mediaId: MediaId,
  /** Detected from the bytes, not taken from the client. */
  contentType: MediaType,
  size: z.number().int(),
  encrypted: z.boolean(),
  /** Display size after EXIF orientation, for images whose header could be read. */
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  /** A server thumbnail, at `GET /v1/media/:mediaId/thumbnail`. */
  thumbnail: Thumbnail.optional(),
});
export type MediaInfo = z.infer<typeof MediaInfo>;

/** The parts of a multipart upload stored so far. */
export const UploadStatus = z.object({
  mediaId: MediaId,
  partSize: z.number().int(),
  partCount: z.number().int(),
  stored: z.array(z.number().int()),
});
export type UploadStatus = z.infer<typeof UploadStatus>;

/**
 * A media message. The client sends `mediaId` (and optionally a caption, a client-made
 * thumbnail's `thumbnailId`, and `sealed`); the server fills in `contentType`, `size`,
 * `width`, `height` and `thumbnail` from what it stored, so what clients render is what
 * was uploaded. For end-to-end encrypted media, `sealed` carries the app's encrypted
 * key, digest and real type; the server stores it verbatim and cannot read it.
 */
export const MediaContent = z.strictObject({
  type: z.literal('media'),
  mediaId: MediaId,
  caption: codePointString(MEDIA.maxCaptionLength).min(1).optional(),
  thumbnailId: MediaId.optional(),
  sealed: z.string().min(1).max(MEDIA.maxSealedLength).regex(/^[A-Za-z0-9_-]+$/, 'must be base64url').optional(),
  contentType: MediaType.optional(),
  size: z.number().int().optional(),
  encrypted: z.boolean().optional(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  thumbnail: Thumbnail.optional(),
});
export type MediaContent = z.infer<typeof MediaContent>;

/** The media ids a message refers to (the item and a client-made thumbnail; an encrypted envelope's `mediaIds`). */
export function mediaIdsOf(content: { type: string }): string[] {
  if (content.type === 'encrypted') return [...((content as { mediaIds?: string[] }).mediaIds ?? [])];
  if (content.type !== 'media') return [];
  const media = content as MediaContent;
  return media.thumbnailId ? [media.mediaId, media.thumbnailId] : [media.mediaId];
}
