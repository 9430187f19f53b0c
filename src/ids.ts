/**
 * @module ids
 * Server-generated identifiers and secrets: random, URL-safe, prefixed by kind so a
 * stray id in a log says what it is.
 */

export function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function randomToken(bytes = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export type IdKind = 'u' | 'd' | 'g';

/** A new id such as `u_3q2…`: 128 random bits. */
export function newId(kind: IdKind): string {
  return `${kind}_${randomToken(16)}`;
}

export async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return base64url(new Uint8Array(digest));
}

/**
 * The one direct conversation between two users, whoever starts it; `encrypted`: the one
 * end-to-end encrypted direct conversation between them, a conversation of its own (a
 * plain one cannot become encrypted, so the two may exist side by side).
 */
export async function directConversationId(a: string, b: string, encrypted = false): Promise<string> {
  const [first, second] = a < b ? [a, b] : [b, a];
  return `dm_${(await sha256(`${encrypted ? 'direct-e2e' : 'direct'}:${first}:${second}`)).slice(0, 32)}`;
}

export function newGroupId(): string {
  return newId('g');
}
