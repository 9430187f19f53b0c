/**
 * @module routes/devices
 * A user's devices (one per login): list them, sign one out.
 */
import { Hono } from 'hono';
import type { AppBindings } from '../env.js';
import { DeviceId } from '../protocol/index.js';
import { requireAuth } from '../middleware/auth.js';
import { parseParams } from '../middleware/body.js';
import { listDevices } from '../auth/accounts.js';
import { signOutDevice } from '../auth/standing.js';
import { AppError } from '../errors.js';

export const deviceRoutes = new Hono<AppBindings>()
  .use(requireAuth())
  .get('/', async (c) => c.json({ devices: await listDevices(c.env.DB, c.get('identity')) }))
  .delete('/:deviceId', async (c) => {
    const deviceId = parseParams(DeviceId, c.req.param('deviceId'));
    // A device signed out before is not listed, so it is not found either (but the sign-out is repeated, in case it did not finish).
    const outcome = await signOutDevice(c.env, c.get('identity').userId, deviceId);
    if (outcome !== 'revoked') throw new AppError('not_found', 'No such device.');
    return c.body(null, 204);
  });
