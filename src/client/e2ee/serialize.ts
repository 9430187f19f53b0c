/**
 * @module client/e2ee/serialize
 * Session and sender-key records as JSON-safe values, so any store (memory, IndexedDB,
 * a file) can keep them: bytes become `{ $b: base64url }`, everything else stays as is.
 */
import { fromBase64url, toBase64url } from './bytes.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function toJson(value: unknown): Json {
  if (value instanceof Uint8Array) return { $b: toBase64url(value) };
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJson(v);
    return out;
  }
  return value as Json;
}

export function fromJson<T>(json: Json): T {
  const walk = (v: Json): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      if (typeof v.$b === 'string' && Object.keys(v).length === 1) return fromBase64url(v.$b);
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(json) as T;
}
