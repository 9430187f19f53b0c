/**
 * @module push
 * Web Push notifications for users with no online device. The UserDO calls
 * `notifyOffline` and `clearPushState`; the Worker's `queue` handler is `handlePushBatch`.
 */
export { notifyOffline, clearPushState } from './notify.js';
export { handlePushBatch } from './consumer.js';
export { PushJob } from './jobs.js';
