/**
 * @module middleware/auth
 * Bearer access tokens on every authenticated route. The token proves who signed it; the
 * device's standing (signed in? which tier?) comes from the user's UserDO through this
 * isolate's short cache (src/auth/standing.ts), so logout and revocation take effect
 * without a D1 query on every request: at once through this isolate, within
 * STANDING_CACHE.ttlMs through another.
 */
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../errors.js';
import type { AppBindings } from '../env.js';
import { verifyAccessToken } from '../auth/tokens.js';
import { standingOf } from '../auth/standing.js';
import { authSecret } from '../config.js';

export function requireAuth(): MiddlewareHandler<AppBindings> {
  return async function requireAuth(c, next) {
    const header = c.req.header('authorization');
    const match = header?.match(/^Bearer ([A-Za-z0-9._-]{1,2048})$/);
    if (!match?.[1]) throw new AppError('unauthenticated', 'Send an access token: "Authorization: Bearer <token>".');
    // The token's `act` claim is not used for the tier: the UserDO knows the account's age,
    // together with the operator's trust and the reports that can demote it.
    const { accountCreatedAt: _created, ...identity } = await verifyAccessToken(authSecret(c.env), match[1]);
    const standing = await standingOf(c.env, identity);
    if (!standing.active) throw new AppError('device_revoked', 'This device has been signed out.');
    c.set('identity', identity);
    c.set('tier', standing.tier);
    await next();
  };
}
