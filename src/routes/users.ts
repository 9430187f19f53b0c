/**
 * @module routes/users
 * Looking people up: yourself, a user by id, or by handle (to start a conversation), and
 * a user's keys for end-to-end encryption (./keys.ts).
 */
import { Hono } from 'hono';
import type { AppBindings } from '../env.js';
import { DeviceId, Handle, User, UserId } from '../protocol/index.js';
import { z } from 'zod';
import { doc } from '../openapi/describe.js';
import { requireAuth } from '../middleware/auth.js';
import { parseParams } from '../middleware/body.js';
import { findUser } from '../auth/accounts.js';
import { AppError } from '../errors.js';
import { userKeyRoutes } from './keys.js';

/** Each route's OpenAPI entry (src/openapi/describe.ts): the schemas are those the handler reads. */
const docs = {
  me: doc({
    tag: 'accounts',
    summary: 'You',
    description: 'Your account and the id of the device asking.',
    responses: { 200: { description: 'You.', schema: z.object({ user: User, deviceId: DeviceId }) } },
    errors: ['user_not_found'],
  }),
  byHandle: doc({
    tag: 'accounts',
    summary: 'Find a user by handle',
    description: 'Handles are matched case-insensitively.',
    params: { handle: Handle },
    responses: { 200: { description: 'The user.', schema: z.object({ user: User }) } },
    errors: ['user_not_found'],
  }),
  byId: doc({
    tag: 'accounts',
    summary: 'A user',
    description: 'Public profile: id, handle, display name.',
    params: { userId: UserId },
    responses: { 200: { description: 'The user.', schema: z.object({ user: User }) } },
    errors: ['user_not_found'],
  }),
};

export const userRoutes = new Hono<AppBindings>()
  .use(requireAuth())
  .get('/me', docs.me, async (c) => {
    const identity = c.get('identity');
    const user = await findUser(c.env.DB, { id: identity.userId });
    if (!user) throw new AppError('user_not_found', 'Your account no longer exists.');
    return c.json({ user, deviceId: identity.deviceId });
  })
  .get('/by-handle/:handle', docs.byHandle, async (c) => {
    const handle = parseParams(Handle, c.req.param('handle').toLowerCase());
    const user = await findUser(c.env.DB, { handle });
    if (!user) throw new AppError('user_not_found', `Nobody has the handle "${handle}".`);
    return c.json({ user });
  })
  .get('/:userId', docs.byId, async (c) => {
    const id = parseParams(UserId, c.req.param('userId'));
    const user = await findUser(c.env.DB, { id });
    if (!user) throw new AppError('user_not_found', 'No such user.');
    return c.json({ user });
  })
  // A user's device list and prekey bundles (src/routes/keys.ts), under this requireAuth.
  // Last, so `/by-handle/keys` stays the look-up of the handle "keys".
  .route('/', userKeyRoutes);
