/**
 * @module push
 * Web Push notifications for users with no online device. The UserDO calls
 * `notifyOffline` and `clearPushState` (and asks `hasSubscription` first); the Worker's `queue` handler is `handlePushBatch`.
 */
export { notifyOffline, clearPushState } from './notify.js';
export { hasSubscription } from './subscriptions.js';
export { PUSH } from './settings.js';
export { handlePushBatch } from './consumer.js';
export { PushJob } from './jobs.js';
