/** What the interop tests use from the module, plus randomness for test inputs. */
export * from '../../../src/client/e2ee/index.js';
export { randomBytes as randomBytesForTests } from '../../../src/client/e2ee/bytes.js';
