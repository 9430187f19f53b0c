/**
 * @module auth/standing
 * The Worker's side of device standing ("is this device signed in, and on which tier").
 * The user's UserDO owns it (src/user/devices.ts); the Worker keeps what it was told in a
 * small per-isolate cache, so an authenticated request costs no D1 query and, most of the
 * time, no call at all. And the one way a device is signed out: `signOutDevice`.
 *
 * Bounds: an answer is kept STANDING_CACHE.ttlMs. A revocation through this isolate evicts
 * the device at once; one through another isolate reaches this isolate's plain HTTP
 * requests within the TTL. Wires that outlive a request (the device event stream over
 * SSE and long polling, sockets, conversation feeds) do not depend on the cache: the
 * objects that hold them end them at the revocation itself.
 */
import type { Env, Identity } from '../env.js';
import type { Tier } from '../ratelimit/rules.js';
import { log, reason, trace } from '../log.js';
import { revokeDevice } from './accounts.js';
import { ExpiringMap } from './expiring.js';

export interface Standing {
  active: boolean;
  tier: Tier;
}

export const STANDING_CACHE = {
  /** How long an isolate trusts the UserDO's answer: the bound on a revocation or demotion made through another isolate. */
  ttlMs: 10_000,
  /** Most devices kept per isolate; the oldest entry goes first. */
  maxEntries: 10_000,
} as const;

/** Standing answers per user and device, each kept `ttlMs`. One per isolate (below). */
export class StandingCache {
  readonly #entries = new ExpiringMap<string, Standing>(STANDING_CACHE.maxEntries);

  get size(): number {
    return this.#entries.size;
  }

  get(identity: Identity, now: number): Standing | undefined {
    return this.#entries.get(keyOf(identity), now);
  }

  set(identity: Identity, standing: Standing, now: number): void {
    this.#entries.set(keyOf(identity), standing, now + STANDING_CACHE.ttlMs);
  }

  /** Forgets one device, or every device of the user (their tier changed). */
  forget(userId: string, deviceId?: string): void {
    if (deviceId !== undefined) {
      this.#entries.delete(keyOf({ userId, deviceId }));
      return;
    }
    for (const key of this.#entries.keys()) if (key.startsWith(`${userId} `)) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}

const keyOf = (identity: Identity) => `${identity.userId} ${identity.deviceId}`;

/**
 * This isolate's cache. Not the Worker's only state between requests: there are also the
 * imported HMAC keys and verified access tokens (src/auth/tokens.ts) and the parsed
 * allowed origins (src/middleware/origin.ts).
 */
export const standingCache = new StandingCache();

/**
 * The device's standing: from this isolate's cache, else from the user's UserDO (which
 * answers from its own storage). `fresh` skips the cache, for what outlives a request (a
 * socket upgrade).
 */
export async function standingOf(env: Env, identity: Identity, options: { fresh?: boolean } = {}): Promise<Standing> {
  const now = Date.now();
  if (!options.fresh) {
    const cached = standingCache.get(identity, now);
    if (cached) return cached;
  }
  const standing = await env.USERS.getByName(identity.userId).standing(identity.deviceId, trace());
  standingCache.set(identity, standing, now);
  return standing;
}

/**
 * Signs a device out everywhere: revoked in D1 (its refresh tokens, tickets and push
 * subscription go), evicted from this isolate's cache, and forgotten by the UserDO, which
 * ends every wire it has (inbox socket, SSE reads and held polls) and closes its chat
 * windows and feeds in every conversation. Used by logout, DELETE /v1/devices/:id and
 * refresh-token reuse. Returns what D1 said ('unknown': not this user's device; nothing done).
 */
export async function signOutDevice(env: Env, userId: string, deviceId: string): Promise<'revoked' | 'already' | 'unknown'> {
  const outcome = await revokeDevice(env.DB, userId, deviceId);
  if (outcome === 'unknown') return outcome;
  standingCache.forget(userId, deviceId);
  // Also when D1 had it revoked already: a UserDO that missed the first time learns it now.
  await env.USERS.getByName(userId).forgetDevice(deviceId);
  return outcome;
}

/** Register and login: the UserDO learns of the new device now, rather than importing it from D1 at its first request. */
export async function deviceCreated(env: Env, userId: string, deviceId: string, createdAt: number): Promise<void> {
  try {
    await env.USERS.getByName(userId).addDevice(deviceId, createdAt);
  } catch (err) {
    // Not fatal: the UserDO imports a device it does not know from D1 (once).
    log.warn('device_announce_failed', { userId, deviceId, reason: reason(err) });
  }
}
