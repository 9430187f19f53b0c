/**
 * @module protocol/push
 * Web Push: the subscription a browser registers (the JSON of `PushSubscription.toJSON()`)
 * and the payload its service worker receives, decrypted, in the `push` event.
 */
import { z } from 'zod';
import { ConversationId, Seq } from './ids.js';

export const PUSH_LIMITS = {
  /** Push service URLs are a few hundred characters; this leaves room without inviting abuse. */
  maxEndpointLength: 2048,
  /** Characters of a message shown in a notification: what a lock screen shows anyway. */
  maxPreviewLength: 140,
} as const;

const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/** Decodes base64url (padding optional), or null if it is not. */
export function decodeBase64url(value: string): Uint8Array | null {
  if (!BASE64URL.test(value)) return null;
  try {
    return Uint8Array.from(atob(value.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '')), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/**
 * `p256dh`: the browser's P-256 public key, uncompressed (65 bytes); `auth`: 16 random
 * bytes (RFC 8291 §3). The schema checks the shape; the worker also checks that the key
 * is a point on the curve (src/push/subscriptions.ts), which needs WebCrypto and so an
 * asynchronous step.
 */
export const PushKeys = z.strictObject({
  p256dh: z
    .string()
    .max(128)
    .refine((v) => {
      const bytes = decodeBase64url(v);
      return bytes?.length === 65 && bytes[0] === 0x04;
    }, 'must be an uncompressed P-256 point (65 bytes), base64url'),
  auth: z
    .string()
    .max(64)
    .refine((v) => decodeBase64url(v)?.length === 16, 'must be 16 bytes, base64url'),
});

/** The body of `POST /v1/push/subscriptions`: `JSON.stringify(subscription)` as the browser gives it. */
export const PushSubscriptionBody = z.strictObject({
  endpoint: z.url({ protocol: /^https?$/ }).max(PUSH_LIMITS.maxEndpointLength),
  /** Browsers send it; the push service's 404/410 is what the server relies on. */
  expirationTime: z.number().nullable().optional(),
  keys: PushKeys,
});
export type PushSubscriptionBody = z.infer<typeof PushSubscriptionBody>;

export const PushSubscriptionInfo = z.object({ endpoint: z.string(), createdAt: z.number().int() });

export const VapidKeyResponse = z.object({
  /** The application server key for `PushManager.subscribe({ applicationServerKey })`, base64url. */
  publicKey: z.string(),
});

/**
 * What a service worker gets in `event.data.json()`. New kinds may be added: a service
 * worker shows `title`/`body` for any kind it does not know. `tag` is the same for every
 * notification of a conversation, so `showNotification(title, { tag })` replaces the
 * previous one instead of stacking.
 */
export const PushPayload = z.object({
  v: z.literal(1),
  kind: z.literal('message'),
  conversationId: ConversationId,
  seq: Seq,
  title: z.string(),
  body: z.string(),
  tag: z.string(),
});
export type PushPayload = z.infer<typeof PushPayload>;
