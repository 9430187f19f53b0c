/**
 * @module media/signing
 * Signed upload URLs. The signature is an HMAC-SHA256 over every parameter that bounds
 * the upload (media id, part, exact byte count, content type, expiry), so a URL cannot be
 * stretched to a bigger file, another type or a later time. It is checked before a single
 * body byte is read. The key is derived from AUTH_SECRET, so it is a secret in production.
 */
import { base64url } from '../ids.js';

/** What one URL allows. `part` is 0 for a single upload or a multipart control URL. */
export interface UploadGrant {
  /** What the URL does: store the whole file, store one part, complete, or read status. */
  action: 'put' | 'part' | 'complete' | 'status';
  mediaId: string;
  part: number;
  size: number;
  contentType: string;
  expiresAt: number;
}

const keys = new Map<string, Promise<CryptoKey>>();

function keyFor(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    // A separate key per purpose: an upload signature can never pass as an access token.
    key = crypto.subtle.importKey('raw', new TextEncoder().encode(`media-upload-v1:${secret}`), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    keys.set(secret, key);
  }
  return key;
}

function message(grant: UploadGrant): Uint8Array {
  return new TextEncoder().encode(['v1', grant.action, grant.mediaId, grant.part, grant.size, grant.contentType, grant.expiresAt].join('\n'));
}

export async function sign(secret: string, grant: UploadGrant): Promise<string> {
  const mac = await crypto.subtle.sign('HMAC', await keyFor(secret), message(grant));
  return base64url(new Uint8Array(mac));
}

/** Constant-time check (WebCrypto's verify) of a signature against the grant it claims. */
export async function verify(secret: string, grant: UploadGrant, signature: string): Promise<boolean> {
  const bytes = fromBase64url(signature);
  if (!bytes || bytes.length !== 32) return false;
  return crypto.subtle.verify('HMAC', await keyFor(secret), bytes, message(grant));
}

/** The query string of a signed URL for `grant`. */
export async function signedQuery(secret: string, grant: UploadGrant): Promise<string> {
  const params = new URLSearchParams({
    size: String(grant.size),
    type: grant.contentType,
    exp: String(grant.expiresAt),
    sig: await sign(secret, grant),
  });
  return params.toString();
}

function fromBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(text)) return null;
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  try {
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}
