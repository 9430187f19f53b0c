/**
 * @module protocol
 * The wire protocol shared by the worker and the SDK: ids, limits, errors, events,
 * WebSocket frames and HTTP bodies. Free of Workers-only imports on purpose.
 */
export * from './limits.js';
export * from './errors.js';
export * from './ids.js';
export * from './events.js';
export * from './frames.js';
export * from './http.js';
export * from './inbox.js';
export * from './feed.js';
export * from './preview.js';
export * from './json.js';
export * from './push.js';
export * from './media.js';
export * from './keys.js';
export * from './envelopes.js';
export * from './text.js';
