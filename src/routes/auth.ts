/**
 * @module routes/auth
 * Register, log in, refresh, log out, and connect tickets for WebSockets. Each login
 * creates a device; logging out revokes it.
 */
import { Hono } from 'hono';
import type { AppBindings } from '../env.js';
import { LoginBody, RefreshBody, RegisterBody } from '../protocol/index.js';
import { readJson } from '../middleware/body.js';
import { requireAuth } from '../middleware/auth.js';
import { authSecret } from '../config.js';
import { login, refresh, register } from '../auth/accounts.js';
import { signConnectTicket } from '../auth/tokens.js';
import { deviceCreated, signOutDevice } from '../auth/standing.js';
import { AppError } from '../errors.js';
import { ACCOUNT_LIMITS, TIER_LIMITS, registrationRule } from '../ratelimit/rules.js';
import { clientAddress, limiter, rateLimited, take } from '../ratelimit/limiters.js';

export const authRoutes = new Hono<AppBindings>()
  .post('/register', async (c) => {
    const body = await readJson(c, RegisterBody);
    const address = clientAddress(c);
    await take(c.env, `address:register:${address}`, registrationRule(c.env.ENVIRONMENT, address), 'registrations from this address');
    const session = await register(c.env.DB, authSecret(c.env), body);
    await deviceCreated(c.env, session.user.id, session.deviceId, Date.now());
    return c.json(session, 201);
  })
  .post('/login', async (c) => {
    const body = await readJson(c, LoginBody);
    await take(c.env, `address:login:${clientAddress(c)}`, ACCOUNT_LIMITS.loginsPerAddress, 'login attempts from this address');
    const attempts = limiter(c.env, `handle:${body.handle.toLowerCase()}`);
    rateLimited(await attempts.loginAllowed(), 'failed logins for this handle');
    try {
      const session = await login(c.env.DB, authSecret(c.env), body);
      await attempts.loginSucceeded();
      await deviceCreated(c.env, session.user.id, session.deviceId, Date.now());
      return c.json(session);
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_credentials') await attempts.loginFailed();
      throw err;
    }
  })
  .post('/refresh', async (c) => {
    const { refreshToken } = await readJson(c, RefreshBody);
    return c.json(await refresh(c.env.DB, authSecret(c.env), refreshToken, (userId, deviceId) => signOutDevice(c.env, userId, deviceId)));
  })
  .post('/logout', requireAuth(), async (c) => {
    const { userId, deviceId } = c.get('identity');
    await signOutDevice(c.env, userId, deviceId);
    return c.body(null, 204);
  })
  .post('/tickets', requireAuth(), async (c) => {
    const identity = c.get('identity');
    await take(c.env, `device:tickets:${identity.deviceId}`, TIER_LIMITS[c.get('tier')].connectTickets, 'connect tickets');
    return c.json(await signConnectTicket(authSecret(c.env), identity), 201);
  });
