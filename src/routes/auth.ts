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
import { issueConnectTicket, login, refresh, register, revokeDevice } from '../auth/accounts.js';

export const authRoutes = new Hono<AppBindings>()
  .post('/register', async (c) => {
    const body = await readJson(c, RegisterBody);
    return c.json(await register(c.env.DB, authSecret(c.env), body), 201);
  })
  .post('/login', async (c) => {
    const body = await readJson(c, LoginBody);
    return c.json(await login(c.env.DB, authSecret(c.env), body));
  })
  .post('/refresh', async (c) => {
    const { refreshToken } = await readJson(c, RefreshBody);
    return c.json(await refresh(c.env.DB, authSecret(c.env), refreshToken));
  })
  .post('/logout', requireAuth(), async (c) => {
    const { userId, deviceId } = c.get('identity');
    await revokeDevice(c.env.DB, userId, deviceId);
    await c.env.USERS.getByName(userId).forgetDevice(deviceId);
    return c.body(null, 204);
  })
  .post('/tickets', requireAuth(), async (c) => c.json(await issueConnectTicket(c.env.DB, c.get('identity')), 201));
