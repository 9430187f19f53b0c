/**
 * @module routes/users
 * Looking people up: yourself, a user by id, or by handle (to start a conversation).
 */
import { Hono } from 'hono';
import type { AppBindings } from '../env.js';
import { Handle, UserId } from '../protocol/index.js';
import { requireAuth } from '../middleware/auth.js';
import { parseParams } from '../middleware/body.js';
import { findUser } from '../auth/accounts.js';
import { AppError } from '../errors.js';

export const userRoutes = new Hono<AppBindings>()
  .use(requireAuth())
  .get('/me', async (c) => {
    const identity = c.get('identity');
    const user = await findUser(c.env.DB, { id: identity.userId });
    if (!user) throw new AppError('user_not_found', 'Your account no longer exists.');
    return c.json({ user, deviceId: identity.deviceId });
  })
  .get('/by-handle/:handle', async (c) => {
    const handle = parseParams(Handle, c.req.param('handle').toLowerCase());
    const user = await findUser(c.env.DB, { handle });
    if (!user) throw new AppError('user_not_found', `Nobody has the handle "${handle}".`);
    return c.json({ user });
  })
  .get('/:userId', async (c) => {
    const id = parseParams(UserId, c.req.param('userId'));
    const user = await findUser(c.env.DB, { id });
    if (!user) throw new AppError('user_not_found', 'No such user.');
    return c.json({ user });
  });
