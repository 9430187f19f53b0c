/**
 * Media test helpers: ask for an upload, PUT bytes to a signed URL, download, all
 * through the Worker's own fetch handler.
 */
import { exports } from 'cloudflare:workers';
import { expect } from 'vitest';
import { call, json } from './helpers.js';
import type { MediaInfo, MediaType, Session, UploadTicket } from '../../src/protocol/index.js';

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export interface Ask {
  contentType: MediaType;
  size?: number;
  sha256?: string;
  encrypted?: boolean;
}

export async function askUpload(session: Session, conversationId: string, bytes: Uint8Array, ask: Ask): Promise<Response> {
  return call('/v1/media', {
    token: session.accessToken,
    body: { conversationId, contentType: ask.contentType, size: ask.size ?? bytes.byteLength, sha256: ask.sha256 ?? (await sha256Hex(bytes)), encrypted: ask.encrypted ?? false },
  });
}

export async function ticketFor(session: Session, conversationId: string, bytes: Uint8Array, ask: Ask): Promise<UploadTicket> {
  const res = await askUpload(session, conversationId, bytes, ask);
  const text = await res.text();
  expect(res.status, text).toBe(201);
  return JSON.parse(text) as UploadTicket;
}

export function put(url: string, bytes: Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
  return exports.default.fetch(url, { method: 'PUT', body: bytes, headers: { 'content-length': String(bytes.byteLength), ...headers } });
}

export async function uploadWhole(session: Session, conversationId: string, bytes: Uint8Array, contentType: MediaType): Promise<MediaInfo> {
  const ticket = await ticketFor(session, conversationId, bytes, { contentType });
  if (ticket.upload.kind !== 'single') throw new Error('expected a single upload');
  const res = await put(ticket.upload.url, bytes);
  const text = await res.text();
  expect(res.status, text).toBe(201);
  return (JSON.parse(text) as { media: MediaInfo }).media;
}

export async function download(session: Session, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return call(path, { token: session.accessToken, headers });
}

export async function sendMedia(session: Session, conversationId: string, content: Record<string, unknown>): Promise<Response> {
  return call(`/v1/conversations/${conversationId}/messages`, { token: session.accessToken, body: { cmid: crypto.randomUUID(), content: { type: 'media', ...content } } });
}

/** Bytes that look like an MP4 (ftyp box) followed by a non-repeating pattern. */
export function fakeMp4(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = 2463534242;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  bytes.set([0, 0, 0, 0x18, 0x66, 0x74, 0x79, 0x70, 0x69, 0x73, 0x6f, 0x6d]);
  return bytes;
}

/** The path and query of a signed URL, for the `json`/`call` helpers, which add the test origin. */
export const rel = (url: string) => {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
};

export { json };
