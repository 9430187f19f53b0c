/**
 * @module media/download
 * Serving stored media: byte ranges (video seeking), a strong ETag (the content's
 * SHA-256: media never changes once stored), caching that never lets a shared cache hand
 * an authorised response to someone else, and headers that stop a browser from treating
 * a download as a page.
 */
import { MEDIA_TYPES, type MediaType } from '../protocol/index.js';

export type ByteRange = { offset: number; length: number };

/**
 * Parses a `Range` header against a size: null when absent or not a single byte range
 * we serve (the whole body is sent, as RFC 9110 allows), a range, or 'unsatisfiable' (416).
 */
export function parseRange(header: string | null, size: number): ByteRange | 'unsatisfiable' | null {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return null;
  const [, startText = '', endText = ''] = match;
  if (startText === '' && endText === '') return null;
  let start: number;
  let end: number;
  if (startText === '') {
    const suffix = Number(endText);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(startText);
    end = endText === '' ? size - 1 : Math.min(Number(endText), size - 1);
    if (start >= size || end < start) return 'unsatisfiable';
  }
  return { offset: start, length: end - start + 1 };
}

const EXTENSIONS: Record<MediaType, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'video/mp4': 'mp4',
  'video/quicktime': 'mov',
  'video/webm': 'webm',
  'audio/mpeg': 'mp3',
  'audio/ogg': 'ogg',
  'audio/mp4': 'm4a',
  'application/pdf': 'pdf',
  'application/octet-stream': 'bin',
};

/**
 * Headers for a media response. The filename is built from the id (never from client
 * input, so it cannot inject header syntax); only images, audio and video are shown
 * inline, everything else (PDF, octet-stream) is a download.
 */
export function mediaHeaders(mediaId: string, contentType: MediaType, etag: string): Headers {
  const kind = MEDIA_TYPES[contentType];
  const inline = kind === 'image' || kind === 'video' || kind === 'audio';
  return new Headers({
    'Content-Type': contentType,
    'Content-Disposition': `${inline ? 'inline' : 'attachment'}; filename="${mediaId}.${EXTENSIONS[contentType]}"`,
    ETag: `"${etag}"`,
    // private: the response is authorised per user, so a shared cache must not keep it;
    // immutable: the bytes behind an id never change, so the browser need not revalidate.
    'Cache-Control': 'private, max-age=31536000, immutable',
    // CORS headers come only with a cross-origin request's answer: keep a browser's cached
    // copy of one from being handed to the other.
    Vary: 'Origin',
    'Accept-Ranges': 'bytes',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': "default-src 'none'; sandbox",
    'Cross-Origin-Resource-Policy': 'same-site',
  });
}

/** Whether an If-None-Match header names this ETag. */
export function matchesEtag(header: string | null, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim().replace(/^W\//, '');
    return t === '*' || t === `"${etag}"`;
  });
}
