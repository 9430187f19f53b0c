/**
 * @module routes/devices
 * A user's devices (one per login): list them, sign one out.
 */
import { Hono } from 'hono';
import type { AppBindings } from '../env.js';
import { Device, DeviceId } from '../protocol/index.js';
import { z } from 'zod';
import { doc } from '../openapi/describe.js';
import { requireAuth } from '../middleware/auth.js';
import { parseParams } from '../middleware/body.js';
import { listDevices } from '../auth/accounts.js';
import { signOutDevice } from '../auth/standing.js';
import { AppError } from '../errors.js';

/** Each route's OpenAPI entry (src/openapi/describe.ts): the schemas are those the handler reads. */
const docs = {
  list: doc({
    tag: 'accounts',
    summary: 'Your devices',
    description: 'Every signed-in device of your account; `current` marks the one asking.',
    responses: { 200: { description: 'The devices.', schema: z.object({ devices: z.array(Device) }) } },
  }),
  remove: doc({
    tag: 'accounts',
    summary: 'Sign a device out',
    description: 'Revokes the device and its tokens; its open wires end at once (PROTOCOL.md, "A device signed out").',
    params: { deviceId: DeviceId },
    responses: { 204: { description: 'Signed out.' } },
    errors: ['not_found'],
  }),
};

export const deviceRoutes = new Hono<AppBindings>()
  .use(requireAuth())
  .get('/', docs.list, async (c) => c.json({ devices: await listDevices(c.env.DB, c.get('identity')) }))
  .delete('/:deviceId', docs.remove, async (c) => {
    const deviceId = parseParams(DeviceId, c.req.param('deviceId'));
    // A device signed out before is not listed, so it is not found either (but the sign-out is repeated, in case it did not finish).
    const outcome = await signOutDevice(c.env, c.get('identity').userId, deviceId);
    if (outcome !== 'revoked') throw new AppError('not_found', 'No such device.');
    return c.body(null, 204);
  });
