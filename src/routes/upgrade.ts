/**
 * @module routes/upgrade
 * The one way a WebSocket upgrade is authenticated (chat windows and the inbox alike):
 * an upgrade header, an allowed Origin, a single-use connect ticket. Browsers cannot set
 * headers on a WebSocket, so the ticket travels in the URL; it lives 30 s and works once.
 * The ticket is signed (src/auth/tokens.ts) and spent at the device's UserDO, which answers
 * the device's standing in the same call: never taken from a cache.
 */
import type { Context } from 'hono';
import type { AppBindings } from '../env.js';
import { CLOSE_CODES } from '../protocol/index.js';
import { isOriginAllowed } from '../middleware/origin.js';
import { AppError } from '../errors.js';
import type { SocketIdentity } from '../auth/accounts.js';
import { verifyConnectTicket, type TicketClaims } from '../auth/tokens.js';
import { authSecret } from '../config.js';
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
  let claims: TicketClaims;
  try {
    claims = await verifyConnectTicket(authSecret(c.env), c.req.query('ticket') ?? '');
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return refuse(err.toBody(), CLOSE_CODES.unauthenticated);
  }
  // Spent at the user's object, which owns the device: single use, and its standing now
  // (a socket outlives any cache; the object holding the socket checks again).
  const spent = await c.env.USERS.getByName(claims.userId).redeemTicket(claims.deviceId, claims.nonce, claims.expiresAt);
  if (!spent.ok) {
    const close = spent.error.code === 'device_revoked' ? CLOSE_CODES.deviceRevoked : CLOSE_CODES.unauthenticated;
    return refuse(spent.error, close);
  }
  if (!spent.value.active) return refuse({ code: 'device_revoked', message: 'This device has been signed out.' }, CLOSE_CODES.deviceRevoked);
  return { userId: claims.userId, deviceId: claims.deviceId, tier: spent.value.tier };
}

/** Forwards an authenticated upgrade to the object that will hold the socket. */
export function forwardUpgrade(
  target: { fetch(input: string, init: RequestInit): Promise<Response> },
  identity: SocketIdentity,
  url: string,
  extra: Record<string, string> = {},
): Promise<Response> {
  const headers = new Headers({ ...extra, upgrade: 'websocket' });
  headers.set(IDENTITY_HEADERS.user, identity.userId);
  headers.set(IDENTITY_HEADERS.device, identity.deviceId);
  headers.set(IDENTITY_HEADERS.tier, identity.tier);
  // For the object's log lines (the UserDO reads it; src/log.ts).
  const rid = currentRequestId();
  if (rid) headers.set(REQUEST_ID_HEADER, rid);
  return target.fetch(url, { headers });
}
