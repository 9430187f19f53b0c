/**
 * @module routes/auth
 * Register, log in, refresh, log out, and connect tickets for WebSockets. Each login
 * creates a device; logging out revokes it.
 */
import { Hono } from 'hono';
import type { AppBindings } from '../env.js';
import { LoginBody, RefreshBody, RegisterBody, Session, TicketResponse } from '../protocol/index.js';
import { doc } from '../openapi/describe.js';
import { readJson } from '../middleware/body.js';
import { requireAuth } from '../middleware/auth.js';
import { authSecret } from '../config.js';
import { login, refresh, register } from '../auth/accounts.js';
import { signConnectTicket } from '../auth/tokens.js';
import { deviceCreated, signOutDevice } from '../auth/standing.js';
import { AppError } from '../errors.js';
import { ACCOUNT_LIMITS, TIER_LIMITS, registrationRule } from '../ratelimit/rules.js';
import { clientAddress, limiter, rateLimited, take } from '../ratelimit/limiters.js';

/** Each route's OpenAPI entry (src/openapi/describe.ts): the schemas are those the handler reads. */
const docs = {
  register: doc({
    tag: 'accounts',
    auth: 'none',
    summary: 'Create an account',
    description: 'Creates an account and its first device, and signs that device in. Limited per client address (PROTOCOL.md, "Rate limits").',
    body: RegisterBody,
    responses: { 201: { description: 'The new session.', schema: Session } },
    errors: ['handle_taken', 'rate_limited'],
  }),
  login: doc({
    tag: 'accounts',
    auth: 'none',
    summary: 'Log in',
    description: 'Signs in a new device. A wrong handle and a wrong password get the same answer; failed logins for one handle back off exponentially.',
    body: LoginBody,
    responses: { 200: { description: 'The new session (a new device).', schema: Session } },
    errors: ['invalid_credentials', 'rate_limited'],
  }),
  refresh: doc({
    tag: 'accounts',
    auth: 'none',
    summary: 'Refresh a session',
    description: 'Rotates the refresh token (single use) and issues a new access token. Reusing a refresh token signs its device out.',
    body: RefreshBody,
    responses: { 200: { description: 'New access and refresh tokens.', schema: Session } },
    errors: ['invalid_token', 'device_revoked'],
  }),
  logout: doc({
    tag: 'accounts',
    summary: 'Log out',
    description: 'Revokes this device and its tokens; every open wire of the device ends (PROTOCOL.md, "A device signed out").',
    responses: { 204: { description: 'Signed out.' } },
  }),
  tickets: doc({
    tag: 'accounts',
    summary: 'Get a connect ticket',
    description: 'A single-use ticket, valid 30 s, to open a WebSocket with `?ticket=`: browsers cannot set an Authorization header on an upgrade.',
    responses: { 201: { description: 'The ticket.', schema: TicketResponse } },
    errors: ['rate_limited'],
  }),
};

export const authRoutes = new Hono<AppBindings>()
  .post('/register', docs.register, async (c) => {
    const body = await readJson(c, RegisterBody);
    const address = clientAddress(c);
    await take(c.env, `address:register:${address}`, registrationRule(c.env.ENVIRONMENT, address), 'registrations from this address');
    const session = await register(c.env.DB, authSecret(c.env), body);
    await deviceCreated(c.env, session.user.id, session.deviceId, Date.now());
    return c.json(session, 201);
  })
  .post('/login', docs.login, async (c) => {
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
  .post('/refresh', docs.refresh, async (c) => {
    const { refreshToken } = await readJson(c, RefreshBody);
    return c.json(await refresh(c.env.DB, authSecret(c.env), refreshToken, (userId, deviceId) => signOutDevice(c.env, userId, deviceId)));
  })
  .post('/logout', docs.logout, requireAuth(), async (c) => {
    const { userId, deviceId } = c.get('identity');
    await signOutDevice(c.env, userId, deviceId);
    return c.body(null, 204);
  })
  .post('/tickets', docs.tickets, requireAuth(), async (c) => {
    const identity = c.get('identity');
    await take(c.env, `device:tickets:${identity.deviceId}`, TIER_LIMITS[c.get('tier')].connectTickets, 'connect tickets');
    return c.json(await signConnectTicket(authSecret(c.env), identity), 201);
  });
