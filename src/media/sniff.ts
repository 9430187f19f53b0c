/**
 * @module media/sniff
 * What a file is, read from its first bytes rather than taken from the client: the
 * content type by magic bytes, and for images the pixel size after EXIF orientation.
 * Plain functions over a byte prefix, so they run on the first chunk of a stream.
 */
import type { MediaType } from '../protocol/index.js';

/** How many leading bytes the upload keeps for sniffing (JPEG headers can follow large EXIF blocks). */
export const SNIFF_BYTES = 256 * 1024;

const ascii = (bytes: Uint8Array, at: number, text: string) =>
  bytes.length >= at + text.length && [...text].every((ch, i) => bytes[at + i] === ch.charCodeAt(0));
const startsWith = (bytes: Uint8Array, signature: number[]) => bytes.length >= signature.length && signature.every((b, i) => bytes[i] === b);

/** The content type the bytes show, or null when they match no accepted type. */
export function sniffType(bytes: Uint8Array): Exclude<MediaType, 'application/octet-stream'> | null {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (ascii(bytes, 0, 'GIF87a') || ascii(bytes, 0, 'GIF89a')) return 'image/gif';
  if (ascii(bytes, 0, 'RIFF') && ascii(bytes, 8, 'WEBP')) return 'image/webp';
  if (ascii(bytes, 4, 'ftyp')) {
    if (ascii(bytes, 8, 'qt  ')) return 'video/quicktime';
    if (ascii(bytes, 8, 'M4A ') || ascii(bytes, 8, 'M4B ')) return 'audio/mp4';
    return 'video/mp4';
  }
  if (startsWith(bytes, [0x1a, 0x45, 0xdf, 0xa3])) return 'video/webm';
  if (ascii(bytes, 0, 'OggS')) return 'audio/ogg';
  if (ascii(bytes, 0, 'ID3') || (bytes.length >= 2 && bytes[0] === 0xff && ((bytes[1] ?? 0) & 0xe0) === 0xe0)) return 'audio/mpeg';
  if (ascii(bytes, 0, '%PDF-')) return 'application/pdf';
  return null;
}

/**
 * Whether the declared type may be stored for these bytes. `application/octet-stream`
 * takes anything (it is served as a download); every other type must be what the bytes are.
 */
export function typeMatches(declared: MediaType, bytes: Uint8Array): boolean {
  return declared === 'application/octet-stream' || sniffType(bytes) === declared;
}

export interface Dimensions {
  width: number;
  height: number;
}

/** Pixel size as displayed (EXIF orientations 5–8 swap width and height), or null if the header is not in `bytes`. */
export function imageDimensions(type: MediaType, bytes: Uint8Array): Dimensions | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fits = (end: number) => end <= bytes.length;
  switch (type) {
    case 'image/png':
      return fits(24) ? { width: view.getUint32(16), height: view.getUint32(20) } : null;
    case 'image/gif':
      return fits(10) ? { width: view.getUint16(6, true), height: view.getUint16(8, true) } : null;
    case 'image/webp':
      return webpDimensions(bytes, view);
    case 'image/jpeg':
      return jpegDimensions(bytes, view);
    default:
      return null;
  }
}

function webpDimensions(bytes: Uint8Array, view: DataView): Dimensions | null {
  if (bytes.length < 30) return null;
  if (ascii(bytes, 12, 'VP8X')) {
    const w = 1 + (view.getUint16(24, true) | ((bytes[26] ?? 0) << 16));
    const h = 1 + (view.getUint16(27, true) | ((bytes[29] ?? 0) << 16));
    return { width: w, height: h };
  }
  if (ascii(bytes, 12, 'VP8L')) {
    const bits = view.getUint32(21, true);
    return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
  }
  if (ascii(bytes, 12, 'VP8 ')) return { width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff };
  return null;
}

function jpegDimensions(bytes: Uint8Array, view: DataView): Dimensions | null {
  let orientation = 1;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return null;
    const marker = bytes[at + 1] ?? 0;
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01 || marker === 0xff) {
      at += marker === 0xff ? 1 : 2;
      continue;
    }
    const length = view.getUint16(at + 2);
    if (marker === 0xe1 && ascii(bytes, at + 4, 'Exif\0\0')) orientation = exifOrientation(bytes, at + 10, at + 2 + length) ?? orientation;
    // SOF0–SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (!(at + 9 <= bytes.length)) return null;
      const height = view.getUint16(at + 5);
      const width = view.getUint16(at + 7);
      return orientation >= 5 && orientation <= 8 ? { width: height, height: width } : { width, height };
    }
    at += 2 + length;
  }
  return null;
}

/** The EXIF orientation tag (1–8) from a TIFF block at [start, end), or null. */
export function exifOrientation(bytes: Uint8Array, start: number, end: number): number | null {
  if (end > bytes.length || start + 8 > end) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = ascii(bytes, start, 'II');
  if (!little && !ascii(bytes, start, 'MM')) return null;
  const ifd = start + view.getUint32(start + 4, little);
  if (ifd + 2 > end) return null;
  const count = view.getUint16(ifd, little);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > end) return null;
    if (view.getUint16(entry, little) === 0x0112) {
      const value = view.getUint16(entry + 8, little);
      return value >= 1 && value <= 8 ? value : null;
    }
  }
  return null;
}
