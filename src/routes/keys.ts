/**
 * @module routes/keys
 * The key directory for end-to-end encryption (docs/PROTOCOL.md, "Key directory"): the
 * calling device's own keys (`/v1/keys`), and another user's devices and bundles
 * (`/v1/users/:userId/keys`, mounted inside the users routes). The state is the user's
 * object's (src/user/keys.ts); these check shapes, who asks, and the claim limit.
 *
 * Anyone signed in may read and claim a user's keys, except someone that user blocked:
 * they are answered as for an id nobody has (`user_not_found`), as the users and presence
 * routes do, and an unknown id creates no object.
 */
import { Hono } from 'hono';
import type { AppBindings } from '../env.js';
import { ClaimedKeys, ClaimKeysBody, DeviceList, E2EE, KeyStatus, KeyUploadBody, PreKeyBatchBody, UserId } from '../protocol/index.js';
import { doc } from '../openapi/describe.js';
import { requireAuth } from '../middleware/auth.js';
import { parseParams, readJson } from '../middleware/body.js';
import { existingUserIds } from '../auth/accounts.js';
import { AppError, unwrap } from '../errors.js';
import { TIER_LIMITS } from '../ratelimit/rules.js';
import { take } from '../ratelimit/limiters.js';

/** Each route's OpenAPI entry (src/openapi/describe.ts): the schemas are those the handler reads. */
const docs = {
  upload: doc({
    tag: 'keys',
    summary: "Upload this device's keys",
    description:
      'The first upload adds the device to your device list (at most `E2EE.maxDevicesPerUser` devices hold keys) and every encrypted conversation of yours logs `devices_changed`. The identity key and registration id are fixed afterwards; a new `keyId` for a signed prekey rotates it (the old one is kept for a grace period); one-time prekeys are added (at most `E2EE.maxOneTimePreKeys` of each kind). Bodies up to `E2EE.maxKeyUploadBytes`.',
    body: KeyUploadBody,
    responses: { 200: { description: 'What the device now has stored.', schema: KeyStatus } },
    errors: ['identity_key_mismatch', 'device_limit', 'prekey_limit', 'conflict'],
  }),
  prekeys: doc({
    tag: 'keys',
    summary: 'Add one-time prekeys',
    description: 'More one-time prekeys of either kind for this device, after its keys were uploaded; the answer to a `prekeys_low` device event.',
    body: PreKeyBatchBody,
    responses: { 200: { description: 'What the device now has stored.', schema: KeyStatus } },
    errors: ['not_found', 'prekey_limit', 'conflict'],
  }),
  status: doc({
    tag: 'keys',
    summary: "This device's key stock",
    description: 'How many one-time prekeys of each kind are left, and the current signed prekeys’ ids.',
    responses: { 200: { description: 'What the device has stored.', schema: KeyStatus } },
    errors: ['not_found'],
  }),
  list: doc({
    tag: 'keys',
    summary: "A user's device list",
    description: 'The devices of the user that hold keys (identity key, registration id) and the list’s version, which grows with every device added or revoked.',
    params: { userId: UserId },
    responses: { 200: { description: 'The device list.', schema: DeviceList } },
    errors: ['user_not_found'],
  }),
  claim: doc({
    tag: 'keys',
    summary: "Claim a user's prekey bundles",
    description:
      'One bundle per device of the user holding keys (or per device named in `deviceIds`), to start sessions with. Each one-time prekey is handed out once; when a device has none left, its bundle carries the post-quantum last-resort prekey (`lastResort: true`) and no classic one. Rate limited per caller (`keyClaims`).',
    params: { userId: UserId },
    body: ClaimKeysBody,
    responses: { 200: { description: 'The bundles and the device list’s version.', schema: ClaimedKeys } },
    errors: ['user_not_found', 'rate_limited'],
  }),
};

/** `/v1/keys`: the calling device's own keys. */
export const keyRoutes = new Hono<AppBindings>()
  .use(requireAuth())
  .put('/', docs.upload, async (c) => {
    const body = await readJson(c, KeyUploadBody, E2EE.maxKeyUploadBytes);
    const { userId, deviceId } = c.get('identity');
    return c.json(unwrap(await c.env.USERS.getByName(userId).uploadKeys(deviceId, body, { rid: c.get('requestId') })));
  })
  .post('/prekeys', docs.prekeys, async (c) => {
    const body = await readJson(c, PreKeyBatchBody, E2EE.maxKeyUploadBytes);
    const { userId, deviceId } = c.get('identity');
    return c.json(unwrap(await c.env.USERS.getByName(userId).addPreKeys(deviceId, body)));
  })
  .get('/status', docs.status, async (c) => {
    const { userId, deviceId } = c.get('identity');
    return c.json(unwrap(await c.env.USERS.getByName(userId).keyStatus(deviceId)));
  });

/**
 * `/v1/users/:userId/keys`: another user's (or your own) devices and bundles. Mounted in
 * the users routes (src/routes/users.ts), whose `requireAuth` covers it.
 */
export const userKeyRoutes = new Hono<AppBindings>()
  .get('/:userId/keys', docs.list, async (c) => {
    const userId = await target(c.env, parseParams(UserId, c.req.param('userId')), c.get('identity').userId);
    return c.json(unwrap(await c.env.USERS.getByName(userId).deviceList(c.get('identity').userId)));
  })
  .post('/:userId/keys/claim', docs.claim, async (c) => {
    const viewerId = c.get('identity').userId;
    const userId = parseParams(UserId, c.req.param('userId'));
    const { deviceIds } = await readJson(c, ClaimKeysBody);
    await take(c.env, `user:key-claims:${viewerId}`, TIER_LIMITS[c.get('tier')].keyClaims, 'key claims');
    await target(c.env, userId, viewerId);
    return c.json(unwrap(await c.env.USERS.getByName(userId).claimKeys(viewerId, deviceIds, { rid: c.get('requestId') })));
  });

/** `userId` if such a user exists (yourself always does); else `user_not_found`, before any object is made for it. */
async function target(env: AppBindings['Bindings'], userId: string, viewerId: string): Promise<string> {
  if (userId !== viewerId && !(await existingUserIds(env.DB, [userId])).has(userId)) throw new AppError('user_not_found', 'No such user.');
  return userId;
}
