/**
 * @module routes/devices
 * A user's devices (one per login): list them, sign one out.
 */
import { Hono } from 'hono';
import type { AppBindings } from '../env.js';
import { DeviceId } from '../protocol/index.js';
import { requireAuth } from '../middleware/auth.js';
import { parseParams } from '../middleware/body.js';
import { listDevices, revokeDevice } from '../auth/accounts.js';
import { AppError } from '../errors.js';

export const deviceRoutes = new Hono<AppBindings>()
  .use(requireAuth())
  .get('/', async (c) => c.json({ devices: await listDevices(c.env.DB, c.get('identity')) }))
  .delete('/:deviceId', async (c) => {
    const deviceId = parseParams(DeviceId, c.req.param('deviceId'));
    const revoked = await revokeDevice(c.env.DB, c.get('identity').userId, deviceId);
    if (!revoked) throw new AppError('not_found', 'No such device.');
    // Its offline queue must stop holding events back, and its inbox socket close.
    await c.env.USERS.getByName(c.get('identity').userId).forgetDevice(deviceId);
    return c.body(null, 204);
  });
