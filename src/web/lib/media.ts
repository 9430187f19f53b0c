/**
 * @module web/lib/media
 * Media for display. Downloads need the bearer token, which an <img src> cannot send, so
 * bytes are fetched with it and shown through blob: URLs (allowed by the CSP's img-src),
 * shared while shown and revoked when nothing shows them (./blob-urls.ts). Uploads go
 * through the SDK with byte progress.
 */
import { uploadMedia, type UploadProgress } from '../../client/media.js';
import type { MediaInfo, MediaType } from '../../protocol/index.js';
import { MEDIA_TYPES } from '../../protocol/index.js';
import { client } from './session.js';
import { BlobUrls, type BlobLease } from './blob-urls.js';

const mediaClient = { baseUrl: location.origin, token: () => client.accessToken() };

type Variant = 'full' | 'thumbnail';

const blobs = new BlobUrls(async (key) => {
  const [variant, mediaId] = key.split(':', 2) as [Variant, string];
  const path = `/v1/media/${encodeURIComponent(mediaId)}${variant === 'thumbnail' ? '/thumbnail' : ''}`;
  const res = await fetch(path, { headers: { authorization: `Bearer ${await client.accessToken()}` } });
  if (!res.ok) throw new Error(`Download failed (${res.status}).`);
  return res.blob();
});

/** A blob: URL for the media, or for its server thumbnail; release the lease when it is no longer shown. */
export function mediaUrl(mediaId: string, variant: Variant): BlobLease {
  return blobs.acquire(`${variant}:${mediaId}`);
}

/** The upload type for a file: its own when the service accepts it, else a generic file. */
export function uploadType(file: File): MediaType {
  return file.type in MEDIA_TYPES ? (file.type as MediaType) : 'application/octet-stream';
}

export async function upload(file: File, conversationId: string, onProgress: (p: UploadProgress) => void): Promise<MediaInfo> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  return uploadMedia(mediaClient, bytes, { conversationId, contentType: uploadType(file), onProgress });
}
