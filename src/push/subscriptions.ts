/**
 * @module push/subscriptions
 * Web Push subscriptions in D1, one per device. Every query is parameterised.
 */
import { AppError } from '../errors.js';
import type { Env, Identity } from '../env.js';
import { decodeBase64url, type PushSubscriptionBody } from '../protocol/index.js';

export interface StoredSubscription {
  deviceId: string;
  endpoint: string;
  p256dh: string;
  auth: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Push services are https (RFC 8030 §8). Plain http is accepted only outside production
 * and only on this machine, where the tests run their own receiver. Workers cannot reach
 * private networks, so an https endpoint can at worst receive a padded ciphertext.
 */
export function checkEndpoint(env: Env, endpoint: string): void {
  const url = new URL(endpoint);
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && env.ENVIRONMENT !== 'production' && LOOPBACK.has(url.hostname)) return;
  throw new AppError('invalid_request', 'A push endpoint must be an https URL.', { issues: [{ path: ['endpoint'], message: 'must be https' }] });
}

/**
 * The schema only sees 65 bytes starting with 0x04; importing them as an ECDH key makes
 * WebCrypto decode the point and refuse one that is not on P-256. Without this, a bad key
 * would be stored and every push to it would fail in the queue consumer instead.
 */
export async function checkKeys(keys: PushSubscriptionBody['keys']): Promise<void> {
  const raw = decodeBase64url(keys.p256dh);
  const onCurve =
    raw !== null &&
    (await crypto.subtle.importKey('raw', raw, { name: 'ECDH', namedCurve: 'P-256' }, false, []).then(
      () => true,
      () => false,
    ));
  if (!onCurve) {
    throw new AppError('invalid_request', 'The push key is not a P-256 public key.', { issues: [{ path: ['keys', 'p256dh'], message: 'must be a point on P-256' }] });
  }
}

/** Stores this device's subscription, replacing its previous one and taking the endpoint from any other device. */
export async function saveSubscription(env: Env, identity: Identity, body: PushSubscriptionBody): Promise<void> {
  checkEndpoint(env, body.endpoint);
  await checkKeys(body.keys);
  const db = env.DB;
  await db.batch([
    db.prepare('DELETE FROM push_subscriptions WHERE endpoint = ? AND device_id != ?').bind(body.endpoint, identity.deviceId),
    db
      .prepare(
        `INSERT INTO push_subscriptions (device_id, user_id, endpoint, p256dh, auth, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (device_id) DO UPDATE SET endpoint = excluded.endpoint, p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at`,
      )
      .bind(identity.deviceId, identity.userId, body.endpoint, body.keys.p256dh, body.keys.auth, Date.now()),
  ]);
}

export async function getSubscription(db: D1Database, identity: Identity): Promise<{ endpoint: string; createdAt: number } | null> {
  const row = await db
    .prepare('SELECT endpoint, created_at FROM push_subscriptions WHERE device_id = ? AND user_id = ?')
    .bind(identity.deviceId, identity.userId)
    .first<{ endpoint: string; created_at: number }>();
  return row ? { endpoint: row.endpoint, createdAt: row.created_at } : null;
}

export async function deleteSubscription(db: D1Database, identity: Identity): Promise<void> {
  await db.prepare('DELETE FROM push_subscriptions WHERE device_id = ? AND user_id = ?').bind(identity.deviceId, identity.userId).run();
}

/** The statement revokeDevice runs in its batch, so a signed-out device is never notified again. */
export function deleteDeviceSubscription(db: D1Database, deviceId: string, userId: string): D1PreparedStatement {
  return db.prepare('DELETE FROM push_subscriptions WHERE device_id = ? AND user_id = ?').bind(deviceId, userId);
}

/** Whether the user has any subscription: most users never subscribe, and their offline messages then cost no push work. */
export async function hasSubscription(db: D1Database, userId: string): Promise<boolean> {
  return (await db.prepare('SELECT 1 FROM push_subscriptions WHERE user_id = ? LIMIT 1').bind(userId).first()) !== null;
}

/** A user's subscriptions on devices that are still signed in (the join guards against a revoke racing a send). */
export async function activeSubscriptions(db: D1Database, userId: string): Promise<StoredSubscription[]> {
  const { results } = await db
    .prepare(
      `SELECT s.device_id, s.endpoint, s.p256dh, s.auth FROM push_subscriptions s JOIN devices d ON d.id = s.device_id
       WHERE s.user_id = ? AND d.revoked_at IS NULL`,
    )
    .bind(userId)
    .all<{ device_id: string; endpoint: string; p256dh: string; auth: string }>();
  return results.map((r) => ({ deviceId: r.device_id, endpoint: r.endpoint, p256dh: r.p256dh, auth: r.auth }));
}

/**
 * Drops a subscription the push service called gone (404/410). Matching the endpoint too
 * keeps a subscription the device re-registered meanwhile.
 */
export async function removeExpired(db: D1Database, subscription: StoredSubscription): Promise<void> {
  await db
    .prepare('DELETE FROM push_subscriptions WHERE device_id = ? AND endpoint = ?')
    .bind(subscription.deviceId, subscription.endpoint)
    .run();
}
