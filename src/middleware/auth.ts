/**
 * @module middleware/auth
 * Bearer access tokens on every authenticated route. The token proves who signed it;
 * the device check makes logout and device revocation take effect at once rather than
 * when the token expires.
 */
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../errors.js';
import type { AppBindings } from '../env.js';
import { verifyAccessToken } from '../auth/tokens.js';
import { deviceStanding } from '../auth/accounts.js';
import { authSecret } from '../config.js';

export function requireAuth(): MiddlewareHandler<AppBindings> {
  return async function requireAuth(c, next) {
    const header = c.req.header('authorization');
    const match = header?.match(/^Bearer ([A-Za-z0-9._-]{1,2048})$/);
    if (!match?.[1]) throw new AppError('unauthenticated', 'Send an access token: "Authorization: Bearer <token>".');
    // The token's `act` claim is not used for the tier: the standing query below reads the
    // account's age anyway, together with the reports that can demote it.
    const { accountCreatedAt: _created, ...identity } = await verifyAccessToken(authSecret(c.env), match[1]);
    const standing = await deviceStanding(c.env.DB, identity);
    if (!standing.active) throw new AppError('device_revoked', 'This device has been signed out.');
    c.set('identity', identity);
    c.set('tier', standing.tier);
    await next();
  };
}
