/**
 * @module protocol/ids
 * Identifiers are opaque, URL-safe strings. Clients must not parse them; the server
 * validates their shape before using them as object names or SQL parameters.
 */
import { z } from 'zod';
import { LIMITS } from './limits.js';

const OPAQUE = /^[A-Za-z0-9_-]+$/;

/** Whether `value` is an opaque id of `minLength` to LIMITS.maxIdLength characters (as `OpaqueId`, `Cmid`, `Rid` check it), without zod. */
export function isOpaque(value: unknown, minLength: number): value is string {
  return typeof value === 'string' && value.length >= minLength && value.length <= LIMITS.maxIdLength && OPAQUE.test(value);
}

export const OpaqueId = z.string().min(1).max(LIMITS.maxIdLength).regex(OPAQUE, 'must be URL-safe: A-Z a-z 0-9 _ -');
export const UserId = OpaqueId;
export const DeviceId = OpaqueId;
export const ConversationId = OpaqueId;
/** Client message id: chosen by the client (a UUID is ideal), kept until the send is acked. */
export const Cmid = z.string().min(8).max(LIMITS.maxIdLength).regex(OPAQUE, 'must be URL-safe: A-Z a-z 0-9 _ -');
/** Request id: optional, echoed back on the reply so a client can match it. */
export const Rid = z.string().min(1).max(LIMITS.maxIdLength).regex(OPAQUE);
/** Sequence numbers start at 1 and have no gaps within a conversation. */
export const Seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const Handle = z
  .string()
  .min(3)
  .max(32)
  .regex(/^[a-z0-9_]+$/, 'lowercase letters, digits and _ only');
