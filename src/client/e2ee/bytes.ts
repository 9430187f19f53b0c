/**
 * @module client/e2ee/bytes
 * Byte helpers the protocol code shares: concatenation, constant-time comparison,
 * base64url (the wire's encoding for keys and ciphertexts), UTF-8 and randomness.
 * Only platform APIs every runtime has (no Buffer), so the same code runs in browsers,
 * Node 22 and workerd.
 */

/** Bytes backed by a plain ArrayBuffer (what WebCrypto, fetch and libsignal's types take). */
export type Bytes = Uint8Array<ArrayBuffer>;

/** Joins byte strings; a plain array stands for a few literal bytes (a type or version byte). */
export function concat(...parts: (Uint8Array | readonly number[])[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Equal in time that depends on the length only: MACs and keys are compared with it. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Fresh random bytes from the platform's CSPRNG (WebCrypto, present in all three runtimes). */
export function randomBytes(length: number): Bytes {
  const out = new Uint8Array(length);
  // getRandomValues fills at most 65,536 bytes per call.
  for (let at = 0; at < length; at += 65_536) globalThis.crypto.getRandomValues(out.subarray(at, Math.min(length, at + 65_536)));
  return out;
}

export function toBase64url(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Throws a TypeError on text that is not base64url (the caller turns it into its own error). */
export function fromBase64url(text: string): Bytes {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw new TypeError('not base64url');
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

const encoder = new TextEncoder();
export function utf8(text: string): Bytes {
  return encoder.encode(text) as Bytes;
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function fromHex(hex: string): Bytes {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Overwrites secret bytes we no longer need (best effort: the JS heap may hold copies). */
export function wipe(...secrets: Uint8Array[]): void {
  for (const s of secrets) s.fill(0);
}
