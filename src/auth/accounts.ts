/**
 * @module auth/accounts
 * Accounts, devices and refresh tokens in D1. Every query is
 * parameterised; secrets are stored hashed.
 */
import { AppError } from '../errors.js';
import { newId, randomToken, sha256 } from '../ids.js';
import { type Session, type User } from '../protocol/index.js';
import { LIFETIMES } from '../limits.js';
import type { Identity } from '../env.js';
import { decoyHash, hashPassword, verifyPassword, type ScryptParams } from './passwords.js';
import { signAccessToken } from './tokens.js';
import { deleteDeviceSubscription } from '../push/subscriptions.js';
import { REPUTATION, type Tier } from '../ratelimit/rules.js';

interface UserRow {
  id: string;
  handle: string;
  display_name: string;
  password_hash: string;
  password_salt: string;
  password_params: string;
  created_at: number;
}

interface DeviceRow {
  id: string;
  user_id: string;
  name: string;
  created_at: number;
  last_seen_at: number;
  revoked_at: number | null;
}

function toUser(row: Pick<UserRow, 'id' | 'handle' | 'display_name'>): User {
  return { id: row.id, handle: row.handle, displayName: row.display_name };
}

export async function register(
  db: D1Database,
  secret: string,
  input: { handle: string; displayName: string; password: string; deviceName: string },
): Promise<Session> {
  const taken = await db.prepare('SELECT 1 FROM users WHERE handle = ?').bind(input.handle).first();
  if (taken) throw new AppError('handle_taken', `The handle "${input.handle}" is taken.`);
  const password = await hashPassword(input.password);
  const now = Date.now();
  const user: User = { id: newId('u'), handle: input.handle, displayName: input.displayName };
  const deviceId = newId('d');
  const refresh = await newRefreshToken(db, deviceId, now);
  try {
    await db.batch([
      db
        .prepare(
          'INSERT INTO users (id, handle, display_name, password_hash, password_salt, password_params, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .bind(user.id, user.handle, user.displayName, password.hash, password.salt, JSON.stringify(password.params), now),
      insertDevice(db, deviceId, user.id, input.deviceName, now),
      refresh.statement,
    ]);
  } catch (err) {
    // Two registrations of one handle can race past the check above; the UNIQUE index decides.
    if (String(err).includes('UNIQUE')) throw new AppError('handle_taken', `The handle "${input.handle}" is taken.`);
    throw err;
  }
  return session(secret, user, now, deviceId, refresh.token, now);
}

export async function login(
  db: D1Database,
  secret: string,
  input: { handle: string; password: string; deviceName: string },
): Promise<Session> {
  const row = await db.prepare('SELECT * FROM users WHERE handle = ?').bind(input.handle.toLowerCase()).first<UserRow>();
  const stored = row
    ? { hash: row.password_hash, salt: row.password_salt, params: JSON.parse(row.password_params) as ScryptParams }
    : await decoyHash();
  const valid = await verifyPassword(input.password, stored);
  if (!row || !valid) throw new AppError('invalid_credentials', 'The handle or password is wrong.');
  const now = Date.now();
  const deviceId = newId('d');
  const refresh = await newRefreshToken(db, deviceId, now);
  await db.batch([insertDevice(db, deviceId, row.id, input.deviceName, now), refresh.statement]);
  return session(secret, toUser(row), row.created_at, deviceId, refresh.token, now);
}

/**
 * Rotates a refresh token. A token that was already used means two parties hold it:
 * the device is signed out (`signOut`: src/auth/standing.ts signOutDevice), as OAuth 2.0
 * Security BCP (refresh token rotation) advises.
 */
export async function refresh(
  db: D1Database,
  secret: string,
  token: string,
  signOut: (userId: string, deviceId: string) => Promise<unknown>,
): Promise<Session> {
  const now = Date.now();
  const hash = await sha256(token);
  const row = await db
    .prepare(
      `SELECT t.device_id, t.expires_at, t.used_at, d.revoked_at, u.id, u.handle, u.display_name, u.created_at
       FROM refresh_tokens t JOIN devices d ON d.id = t.device_id JOIN users u ON u.id = d.user_id
       WHERE t.token_hash = ?`,
    )
    .bind(hash)
    .first<{ device_id: string; expires_at: number; used_at: number | null; revoked_at: number | null } & UserRow>();
  if (!row || row.revoked_at !== null || row.expires_at <= now) {
    throw new AppError('invalid_token', 'The refresh token is not valid; log in again.');
  }
  // Claim the token atomically: only one of two concurrent refreshes can flip used_at.
  const claimed = await db
    .prepare('UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL')
    .bind(now, hash)
    .run();
  if (row.used_at !== null || claimed.meta.changes !== 1) {
    await signOut(row.id, row.device_id);
    throw new AppError('invalid_token', 'The refresh token was already used; the device has been signed out.');
  }
  const next = await newRefreshToken(db, row.device_id, now);
  await db.batch([next.statement, db.prepare('UPDATE devices SET last_seen_at = ? WHERE id = ?').bind(now, row.device_id)]);
  return session(secret, toUser(row), row.created_at, row.device_id, next.token, now);
}

/**
 * Revokes a device of `userId` in D1 (its refresh tokens and push subscription go with
 * it): 'revoked' now, 'already' revoked before, or 'unknown' (no such device of this
 * user, so nothing was touched). Only src/auth/signout.ts calls this: signing out also
 * tells the UserDO.
 */
export async function revokeDevice(db: D1Database, userId: string, deviceId: string): Promise<'revoked' | 'already' | 'unknown'> {
  const now = Date.now();
  const owned = db.prepare('SELECT 1 FROM devices WHERE id = ? AND user_id = ?').bind(deviceId, userId);
  const [revoked, exists] = await db.batch([
    db.prepare('UPDATE devices SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL').bind(now, deviceId, userId),
    owned,
    // Only this user's device: a foreign device id matches nothing below.
    db.prepare('DELETE FROM refresh_tokens WHERE device_id = ? AND EXISTS (SELECT 1 FROM devices WHERE id = ? AND user_id = ?)').bind(deviceId, deviceId, userId),
    deleteDeviceSubscription(db, deviceId, userId),
  ]);
  if ((revoked?.meta.changes ?? 0) > 0) return 'revoked';
  return (exists?.results.length ?? 0) > 0 ? 'already' : 'unknown';
}

export async function listDevices(db: D1Database, identity: Identity) {
  const { results } = await db
    .prepare('SELECT * FROM devices WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at')
    .bind(identity.userId)
    .all<DeviceRow>();
  return results.map((d) => ({
    id: d.id,
    name: d.name,
    createdAt: d.created_at,
    lastSeenAt: d.last_seen_at,
    current: d.id === identity.deviceId,
  }));
}

/** An authenticated socket's identity: who, and the rate-limit tier they had when the ticket was redeemed. */
export interface SocketIdentity extends Identity {
  tier: Tier;
  /** The standing came from the UserDO for this upgrade (a redeemed ticket), not from a cache. */
  fresh?: boolean;
}

/** What the rate-limit tier of an account depends on, as D1 holds it (src/user/devices.ts keeps a copy). */
export interface AccountFacts {
  createdAt: number;
  /** Set by operators (`users.trust`): 'service' for accounts that are not people. */
  trust: string | null;
  /** The latest report of each distinct reporter within REPUTATION.windowMs, newest first, at most REPUTATION.reportersToDemote. */
  reporters: { reporterId: string; at: number }[];
}

/** A device as D1 holds it: when it was made and, once signed out, when it was revoked. */
export interface DeviceFacts {
  createdAt: number;
  revokedAt: number | null;
}

const ACCOUNT_QUERY = 'SELECT created_at, trust FROM users WHERE id = ?';
const REPORTERS_QUERY = `SELECT reporter_id, max(created_at) AS at FROM reports WHERE target_user_id = ? AND created_at > ?
   GROUP BY reporter_id ORDER BY at DESC LIMIT ?`;

function toAccount(row: { created_at: number; trust: string | null } | undefined, reporters: { reporter_id: string; at: number }[]): AccountFacts | null {
  if (!row) return null;
  return { createdAt: row.created_at, trust: row.trust, reporters: reporters.map((r) => ({ reporterId: r.reporter_id, at: r.at })) };
}

/**
 * The account's facts for its tier, and the devices revoked in D1 since `revokedSince`, in
 * one round trip. The UserDO reads them when it first needs them and then at most once
 * per ACCOUNT_FACTS_REFRESH_MS: never per request. The revoked devices are a safety net
 * for a sign-out whose call to the UserDO failed.
 */
export async function accountFacts(
  db: D1Database,
  userId: string,
  revokedSince: number,
  now = Date.now(),
): Promise<{ account: AccountFacts | null; revokedDeviceIds: string[] }> {
  const [account, reporters, revoked] = await db.batch([
    db.prepare(ACCOUNT_QUERY).bind(userId),
    db.prepare(REPORTERS_QUERY).bind(userId, now - REPUTATION.windowMs, REPUTATION.reportersToDemote),
    db.prepare('SELECT id FROM devices WHERE user_id = ? AND revoked_at >= ?').bind(userId, revokedSince),
  ]);
  return {
    account: toAccount(account?.results[0] as { created_at: number; trust: string | null } | undefined, (reporters?.results ?? []) as { reporter_id: string; at: number }[]),
    revokedDeviceIds: ((revoked?.results ?? []) as { id: string }[]).map((r) => r.id),
  };
}

/**
 * A device's standing as D1 holds it, with the account's facts, in one round trip: how
 * the UserDO imports a device it does not know yet (accounts made before it kept devices,
 * or a device whose creation it was not told of). Null device: no such device of this user.
 */
export async function deviceStanding(db: D1Database, identity: Identity, now = Date.now()): Promise<{ device: DeviceFacts | null; account: AccountFacts | null }> {
  const [device, account, reporters] = await db.batch([
    db.prepare('SELECT created_at, revoked_at FROM devices WHERE id = ? AND user_id = ?').bind(identity.deviceId, identity.userId),
    db.prepare(ACCOUNT_QUERY).bind(identity.userId),
    db.prepare(REPORTERS_QUERY).bind(identity.userId, now - REPUTATION.windowMs, REPUTATION.reportersToDemote),
  ]);
  const row = device?.results[0] as { created_at: number; revoked_at: number | null } | undefined;
  return {
    device: row ? { createdAt: row.created_at, revokedAt: row.revoked_at } : null,
    account: toAccount(account?.results[0] as { created_at: number; trust: string | null } | undefined, (reporters?.results ?? []) as { reporter_id: string; at: number }[]),
  };
}

export async function findUser(db: D1Database, by: { id: string } | { handle: string }): Promise<User | null> {
  const row =
    'id' in by
      ? await db.prepare('SELECT id, handle, display_name FROM users WHERE id = ?').bind(by.id).first<UserRow>()
      : await db.prepare('SELECT id, handle, display_name FROM users WHERE handle = ?').bind(by.handle).first<UserRow>();
  return row ? toUser(row) : null;
}

/** Which of `ids` are registered users (for adding members in one query). */
export async function existingUserIds(db: D1Database, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const found = new Set<string>();
  // D1 caps bound parameters per statement at 100.
  for (let i = 0; i < ids.length; i += 100) {
    const chunk = ids.slice(i, i + 100);
    const { results } = await db
      .prepare(`SELECT id FROM users WHERE id IN (${chunk.map(() => '?').join(',')})`)
      .bind(...chunk)
      .all<{ id: string }>();
    for (const r of results) found.add(r.id);
  }
  return found;
}

function insertDevice(db: D1Database, id: string, userId: string, name: string, now: number): D1PreparedStatement {
  return db
    .prepare('INSERT INTO devices (id, user_id, name, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)')
    .bind(id, userId, name, now, now);
}

async function newRefreshToken(db: D1Database, deviceId: string, now: number) {
  const token = randomToken();
  const statement = db
    .prepare('INSERT INTO refresh_tokens (token_hash, device_id, expires_at) VALUES (?, ?, ?)')
    .bind(await sha256(token), deviceId, now + LIFETIMES.refreshTokenMs);
  return { token, statement };
}

async function session(
  secret: string,
  user: User,
  accountCreatedAt: number,
  deviceId: string,
  refreshToken: string,
  now: number,
): Promise<Session> {
  const access = await signAccessToken(secret, { userId: user.id, deviceId, accountCreatedAt }, now);
  return {
    user,
    deviceId,
    accessToken: access.token,
    accessTokenExpiresAt: access.expiresAt,
    refreshToken,
    refreshTokenExpiresAt: now + LIFETIMES.refreshTokenMs,
  };
}
