/**
 * @module client/e2ee/payload
 * What an end-to-end encrypted message carries inside, and the seal of the pairwise
 * scheme's shared body. The server sees none of it.
 *
 * The payload is JSON (`{ v, conversationId, content }`) padded like Signal pads (0x80,
 * then zeros, to a multiple of PADDING_BLOCK bytes) so ciphertext lengths say little
 * about the text. `conversationId` binds it to its conversation: an envelope moved into
 * another conversation fails to open. Inner content is a text, or a media message whose
 * `sealed` holds the media's key, digest and real type (client/media: EncryptedMediaRef).
 *
 * The pairwise scheme seals the padded payload once with a fresh 256-bit key
 * (AES-256-GCM, the conversation id as associated data) and sends each device that key in
 * its Double Ratchet session, so a message to many devices carries the text once.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { z } from 'zod';
import { MediaContent, codePointString, LIMITS } from '../../protocol/index.js';

export const PAYLOAD_VERSION = 1;
/** Padded plaintext lengths are multiples of this (Signal's message padding). */
export const PADDING_BLOCK = 160;
const KEY_BYTES = 32;
const NONCE_BYTES = 12;

/** The content an app sends and reads in an encrypted conversation. */
export const InnerContent = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text'), text: codePointString(LIMITS.maxTextLength).min(1) }),
  MediaContent,
]);
export type InnerContent = z.infer<typeof InnerContent>;

/** `content` null: the message only carries keys (a session reset). */
const Payload = z.strictObject({ v: z.literal(PAYLOAD_VERSION), conversationId: z.string(), content: InnerContent.nullable() });

export class PayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PayloadError';
  }
}

export function encodePayload(conversationId: string, content: InnerContent | null): Uint8Array {
  return pad(new TextEncoder().encode(JSON.stringify({ v: PAYLOAD_VERSION, conversationId, content })));
}

/** The content of a payload, checked against its conversation. */
export function decodePayload(conversationId: string, bytes: Uint8Array): InnerContent | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(unpad(bytes)));
  } catch {
    throw new PayloadError('The decrypted message is not a payload this SDK reads.');
  }
  const payload = Payload.safeParse(parsed);
  if (!payload.success) throw new PayloadError('The decrypted message has an unknown shape.');
  if (payload.data.conversationId !== conversationId) throw new PayloadError('The message belongs to another conversation.');
  return payload.data.content;
}

export function pad(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil((bytes.length + 1) / PADDING_BLOCK) * PADDING_BLOCK);
  out.set(bytes);
  out[bytes.length] = 0x80;
  return out;
}

export function unpad(bytes: Uint8Array): Uint8Array {
  let end = bytes.length - 1;
  while (end >= 0 && bytes[end] === 0) end--;
  if (end < 0 || bytes[end] !== 0x80) throw new PayloadError('The message padding is malformed.');
  return bytes.subarray(0, end);
}

/** Seals `plaintext` under a fresh key: `{ key, body: nonce ‖ ciphertext ‖ tag }`. */
export function sealBody(conversationId: string, plaintext: Uint8Array): { key: Uint8Array; body: Uint8Array } {
  const key = crypto.getRandomValues(new Uint8Array(KEY_BYTES));
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const sealed = gcm(key, nonce, new TextEncoder().encode(conversationId)).encrypt(plaintext);
  const body = new Uint8Array(NONCE_BYTES + sealed.length);
  body.set(nonce);
  body.set(sealed, NONCE_BYTES);
  return { key, body };
}

export function openBody(conversationId: string, key: Uint8Array, body: Uint8Array): Uint8Array {
  if (key.length !== KEY_BYTES || body.length < NONCE_BYTES + 16) throw new PayloadError('Malformed message key or body.');
  try {
    return gcm(key, body.subarray(0, NONCE_BYTES), new TextEncoder().encode(conversationId)).decrypt(body.subarray(NONCE_BYTES));
  } catch {
    throw new PayloadError('The message body failed authentication.');
  }
}
