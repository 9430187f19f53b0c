/**
 * @module routes/upgrade
 * The one way a WebSocket upgrade is authenticated (chat windows and the inbox alike):
 * an upgrade header, an allowed Origin, a single-use connect ticket. Browsers cannot set
 * headers on a WebSocket, so the ticket travels in the URL; it lives 30 s and works once.
 */
import type { Context } from 'hono';
import type { AppBindings } from '../env.js';
import { CLOSE_CODES } from '../protocol/index.js';
import { isOriginAllowed } from '../middleware/origin.js';
import { AppError } from '../errors.js';
import { redeemConnectTicket, type SocketIdentity } from '../auth/accounts.js';
import { IDENTITY_HEADERS, rejectSocket } from '../objects/sockets.js';

/**
 * Checks an upgrade before anything else is looked at; `check` may refuse it further
 * (e.g. a malformed conversation id). Returns the identity, or the response that refuses.
 */
export async function authenticateUpgrade(c: Context<AppBindings>, check?: () => Response | null): Promise<SocketIdentity | Response> {
  if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
    throw new AppError('upgrade_required', 'This endpoint only accepts WebSocket upgrades.');
  }
  if (!isOriginAllowed(c.env, c.req.raw)) {
    return rejectSocket({ code: 'origin_not_allowed', message: 'This origin may not open sockets here.' }, CLOSE_CODES.forbidden);
  }
  const refused = check?.();
  if (refused) return refused;
  try {
    return await redeemConnectTicket(c.env.DB, c.req.query('ticket') ?? '');
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    const close = err.code === 'device_revoked' ? CLOSE_CODES.deviceRevoked : CLOSE_CODES.unauthenticated;
    return rejectSocket(err.toBody(), close);
  }
}

/** Forwards an authenticated upgrade to the object that will hold the socket. */
export function forwardUpgrade(target: { fetch(input: string, init: RequestInit): Promise<Response> }, identity: SocketIdentity, url: string): Promise<Response> {
  const headers = new Headers({ upgrade: 'websocket' });
  headers.set(IDENTITY_HEADERS.user, identity.userId);
  headers.set(IDENTITY_HEADERS.device, identity.deviceId);
  headers.set(IDENTITY_HEADERS.tier, identity.tier);
  return target.fetch(url, { headers });
}
