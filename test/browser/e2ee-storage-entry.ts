/** What test/browser/e2ee-storage.test.ts bundles into its page, as `window.e2eeStorageTest`. */
export { IndexedDbE2eeStorage } from '../../src/client/e2ee/indexeddb.js';
export { generateDeviceKeys } from '../../src/client/e2ee/device.js';
export { E2ee } from '../../src/client/e2ee/protocol.js';
export { bundleOf } from '../client/e2ee/helpers.js';
