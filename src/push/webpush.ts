/**
 * @module push/webpush
 * One Web Push request: the payload encrypted for the subscription (RFC 8291
 * `aes128gcm`, by @block65/webcrypto-web-push) and signed for the push service with a
 * VAPID JWT (RFC 8292, ES256, by jose). The library's own VAPID helper is not used
 * because it refuses http endpoints, which the local test receiver needs.
 */
import { encryptNotification } from '@block65/webcrypto-web-push';
import { importJWK, SignJWT } from 'jose';
import type { VapidKeys } from '../config.js';
import { base64url, sha256 } from '../ids.js';
import type { PushPayload } from '../protocol/index.js';
import { PUSH } from './settings.js';
import type { StoredSubscription } from './subscriptions.js';

export interface PushOptions {
  /** RFC 8030 §5.4: a pending notification with the same topic replaces the older one. */
  topic: string;
  urgency: 'very-low' | 'low' | 'normal' | 'high';
}

/**
 * The Topic for a user's conversation: a hash, because the header travels in clear to
 * the push service, and keyed by user too, so two members' pushes cannot be linked to one
 * conversation there. 32 base64url characters is the most RFC 8030 allows.
 */
export async function topicFor(userId: string, conversationId: string): Promise<string> {
  return (await sha256(`push-topic:${userId}:${conversationId}`)).slice(0, 32);
}

export async function vapidAuthorization(endpoint: string, vapid: VapidKeys, nowMs: number): Promise<string> {
  const publicKey = Uint8Array.from(atob(vapid.publicKey.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  const key = await importJWK(
    { kty: 'EC', crv: 'P-256', x: base64url(publicKey.slice(1, 33)), y: base64url(publicKey.slice(33, 65)), d: vapid.privateKey },
    'ES256',
  );
  const now = Math.floor(nowMs / 1000);
  const jwt = await new SignJWT({})
    .setProtectedHeader({ typ: 'JWT', alg: 'ES256' })
    .setAudience(new URL(endpoint).origin)
    .setSubject(vapid.subject)
    .setExpirationTime(now + PUSH.vapidTokenSeconds)
    .sign(key);
  return `vapid t=${jwt}, k=${vapid.publicKey}`;
}

/**
 * The request to POST to the subscription's endpoint. The plaintext is padded to the
 * record's full size (the library's default), so the push service cannot tell a short
 * preview from a long one.
 */
export async function buildPushRequest(
  subscription: StoredSubscription,
  payload: PushPayload,
  vapid: VapidKeys,
  options: PushOptions,
  nowMs = Date.now(),
): Promise<Request> {
  const body = await encryptNotification(
    { endpoint: subscription.endpoint, expirationTime: null, keys: { p256dh: subscription.p256dh, auth: subscription.auth } },
    new TextEncoder().encode(JSON.stringify(payload)),
  );
  return new Request(subscription.endpoint, {
    method: 'POST',
    headers: {
      Authorization: await vapidAuthorization(subscription.endpoint, vapid, nowMs),
      'Content-Encoding': 'aes128gcm',
      'Content-Type': 'application/octet-stream',
      TTL: String(PUSH.ttlSeconds),
      Urgency: options.urgency,
      Topic: options.topic,
    },
    body,
  });
}
