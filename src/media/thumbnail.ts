/**
 * @module media/thumbnail
 * Server thumbnails for images that are not end-to-end encrypted, made once when the
 * upload completes, through the Images binding. It honours EXIF orientation (in
 * production, and locally, where Miniflare runs it with sharp, offline) and reads the
 * original as a stream from R2, so a large photo is never held in the Worker's memory.
 * A wasm codec (e.g. @jsquash) would decode the full bitmap inside the isolate (a 12 MP
 * photo is 48 MB of RGBA against a 128 MB limit), add ~1 MB of wasm to the bundle, burn
 * CPU time, and ignore EXIF orientation.
 */
import type { Env } from '../env.js';
import { log, reason } from '../log.js';
import { MEDIA, type MediaType } from '../protocol/index.js';
import { imageDimensions } from './sniff.js';
import { thumbnailKey } from './store.js';

const THUMBNAILABLE: ReadonlySet<MediaType> = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

export function wantsThumbnail(contentType: MediaType, encrypted: boolean): boolean {
  return !encrypted && THUMBNAILABLE.has(contentType);
}

/**
 * Makes and stores the thumbnail of the image at `sourceKey` in `bucket` (its conversation's, src/placement.ts). Returns null (and the
 * upload still succeeds, without a preview) if the bytes cannot be decoded.
 */
export async function makeThumbnail(env: Env, bucket: R2Bucket, mediaId: string, sourceKey: string): Promise<{ key: string; width: number; height: number } | null> {
  const source = await bucket.get(sourceKey);
  if (!source) return null;
  try {
    const side = MEDIA.thumbnailMaxSide;
    const output = await env.IMAGES.input(source.body)
      .transform({ width: side, height: side, fit: 'scale-down' })
      .output({ format: MEDIA.thumbnailType, quality: 80 });
    const bytes = new Uint8Array(await output.response().arrayBuffer());
    const size = imageDimensions('image/webp', bytes);
    if (!size) return null;
    const key = thumbnailKey(mediaId);
    await bucket.put(key, bytes, { httpMetadata: { contentType: MEDIA.thumbnailType } });
    return { key, ...size };
  } catch (err) {
    // The upload is still stored, without a preview.
    log.warn('thumbnail_failed', { mediaId, reason: reason(err) });
    return null;
  }
}
