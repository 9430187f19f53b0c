/**
 * @module routes/upgrade
 * The one way a WebSocket upgrade is authenticated (chat windows and the inbox alike):
 * an upgrade header, an allowed Origin, and either a single-use connect ticket in the URL
 * or the access token as a subprotocol (`edge-chat.v1, bearer.<token>`; src/protocol/frames.ts).
 *
 * A ticket is signed (src/auth/tokens.ts) and spent at the device's UserDO, which answers
 * the device's standing in the same call, so the object holding the socket may take it
 * as fresh. A bearer upgrade costs no call before the object: its standing is this
 * isolate's (src/auth/standing.ts), so the object asks for the device's standing itself
 * (its own cache, revocations pushed to it) rather than taking the Worker's.
 */
import type { Context } from 'hono';
import type { AppBindings } from '../env.js';
import { CLOSE_CODES, WS_BEARER_PREFIX, WS_SUBPROTOCOL } from '../protocol/index.js';
import { isOriginAllowed } from '../middleware/origin.js';
import { AppError } from '../errors.js';
import type { SocketIdentity } from '../auth/accounts.js';
import { verifyAccessToken, verifyConnectTicket, type TicketClaims } from '../auth/tokens.js';
import { standingOf } from '../auth/standing.js';
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
  const offered = offeredProtocols(c.req.raw);
  const bearer = offered.find((p) => p.startsWith(WS_BEARER_PREFIX));
  if (bearer !== undefined) {
    if (!offered.includes(WS_SUBPROTOCOL)) {
      return refuse({ code: 'invalid_request', message: `Offer the "${WS_SUBPROTOCOL}" subprotocol beside the bearer token.` }, CLOSE_CODES.unauthenticated);
    }
    return authenticateBearer(c, bearer.slice(WS_BEARER_PREFIX.length), refuse);
  }
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
  if (!spent.value.active) return refuse({ code: 'device_revoked', message: REVOKED }, CLOSE_CODES.deviceRevoked);
  return { userId: claims.userId, deviceId: claims.deviceId, tier: spent.value.tier, fresh: true };
}

const REVOKED = 'This device has been signed out.';

async function authenticateBearer(c: Context<AppBindings>, token: string, refuse: (body: ErrorBody, close: number) => Response): Promise<SocketIdentity | Response> {
  let identity: { userId: string; deviceId: string };
  try {
    const { userId, deviceId } = await verifyAccessToken(authSecret(c.env), token);
    identity = { userId, deviceId };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return refuse(err.toBody(), CLOSE_CODES.unauthenticated);
  }
  const standing = await standingOf(c.env, identity);
  if (!standing.active) return refuse({ code: 'device_revoked', message: REVOKED }, CLOSE_CODES.deviceRevoked);
  return { ...identity, tier: standing.tier, fresh: false };
}

function offeredProtocols(request: Request): string[] {
  return (request.headers.get('sec-websocket-protocol') ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

/**
 * The upgrade's answer as the client can take it: a client that offered `edge-chat.v1`
 * gets it back (a browser drops a socket whose server picked none of the protocols it
 * offered), on refusals too, so their error frame is read.
 */
export function answerUpgrade(request: Request, response: Response): Response {
  if (response.status !== 101 || !response.webSocket || !offeredProtocols(request).includes(WS_SUBPROTOCOL)) return response;
  const headers = new Headers(response.headers);
  headers.set('sec-websocket-protocol', WS_SUBPROTOCOL);
  return new Response(null, { status: 101, webSocket: response.webSocket, headers });
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
  if (identity.fresh) headers.set(IDENTITY_HEADERS.fresh, '1');
  // For the object's log lines (the UserDO reads it; src/log.ts).
  const rid = currentRequestId();
  if (rid) headers.set(REQUEST_ID_HEADER, rid);
  return target.fetch(url, { headers });
}
