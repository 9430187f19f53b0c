/**
 * @module routes/upgrade
 * The one way a WebSocket upgrade is authenticated (chat windows and the inbox alike):
 * an upgrade header, an allowed Origin, a single-use connect ticket. Browsers cannot set
 * headers on a WebSocket, so the ticket travels in the URL; it lives 30 s and works once.
 * The device's standing is then asked of its UserDO, never taken from a cache.
 */
import type { Context } from 'hono';
import type { AppBindings, Identity } from '../env.js';
import { CLOSE_CODES } from '../protocol/index.js';
import { isOriginAllowed } from '../middleware/origin.js';
import { AppError } from '../errors.js';
import { redeemConnectTicket, type SocketIdentity } from '../auth/accounts.js';
import { standingOf } from '../auth/standing.js';
import { IDENTITY_HEADERS, rejectSocket } from '../objects/sockets.js';
import { record } from '../metrics.js';
import { REQUEST_ID_HEADER, currentRequestId } from '../log.js';
import type { ErrorBody } from '../protocol/index.js';

/**
 * Checks an upgrade before anything else is looked at; `check` may refuse it further
 * (e.g. a malformed conversation id). Returns the identity, or the response that refuses.
 */
export async function authenticateUpgrade(c: Context<AppBindings>, check?: () => Response | null): Promise<SocketIdentity | Response> {
  const refuse = (body: ErrorBody, close: number) => {
    record(c.env, { kind: 'rejection', wire: 'ws', code: body.code, route: `GET ${c.req.routePath}` });
    return rejectSocket(body, close);
  };
  if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
    throw new AppError('upgrade_required', 'This endpoint only accepts WebSocket upgrades.');
  }
  if (!isOriginAllowed(c.env, c.req.raw)) {
    return refuse({ code: 'origin_not_allowed', message: 'This origin may not open sockets here.' }, CLOSE_CODES.forbidden);
  }
  const refused = check?.();
  if (refused) return refused;
  let identity: Identity;
  try {
    identity = await redeemConnectTicket(c.env.DB, c.req.query('ticket') ?? '');
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return refuse(err.toBody(), CLOSE_CODES.unauthenticated);
  }
  // A socket outlives any cache: ask the UserDO itself (the object holding the socket checks again).
  const standing = await standingOf(c.env, identity, { fresh: true });
  if (!standing.active) return refuse({ code: 'device_revoked', message: 'This device has been signed out.' }, CLOSE_CODES.deviceRevoked);
  return { ...identity, tier: standing.tier };
}

/** Forwards an authenticated upgrade to the object that will hold the socket. */
export function forwardUpgrade(target: { fetch(input: string, init: RequestInit): Promise<Response> }, identity: SocketIdentity, url: string): Promise<Response> {
  const headers = new Headers({ upgrade: 'websocket' });
  headers.set(IDENTITY_HEADERS.user, identity.userId);
  headers.set(IDENTITY_HEADERS.device, identity.deviceId);
  headers.set(IDENTITY_HEADERS.tier, identity.tier);
  // For the object's log lines (the UserDO reads it; src/log.ts).
  const rid = currentRequestId();
  if (rid) headers.set(REQUEST_ID_HEADER, rid);
  return target.fetch(url, { headers });
}
