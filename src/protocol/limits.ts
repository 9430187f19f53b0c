/**
 * @module protocol/limits
 * Every size and count limit of the service, in one place. Both the worker and the SDK
 * import these, and docs/PROTOCOL.md lists them; change them here and there together.
 */
export const LIMITS = {
  /** Largest WebSocket frame or JSON request body accepted, checked before parsing. */
  maxFrameBytes: 64 * 1024,
  /** Longest text message, in UTF-16 code units (what `String.length` counts). */
  maxTextLength: 4_000,
  /** Most members a group can have. */
  maxGroupMembers: 1_000,
  /** Longest group title. */
  maxTitleLength: 100,
  /** Default and largest history page. */
  defaultPageSize: 50,
  maxPageSize: 100,
  /** Client message ids and request ids: opaque, URL-safe, bounded. */
  maxIdLength: 64,
  /** Device names shown in the device list. */
  maxDeviceNameLength: 64,
  /** Display names. */
  maxDisplayNameLength: 64,
  /** Passwords: long enough to matter, short enough that hashing cannot be abused. */
  minPasswordLength: 8,
  maxPasswordLength: 256,
  /** Deepest JSON nesting accepted in a frame or body. */
  maxJsonDepth: 16,
} as const;

/** Lifetimes of credentials, in milliseconds. */
export const LIFETIMES = {
  accessTokenMs: 15 * 60 * 1000,
  refreshTokenMs: 30 * 24 * 60 * 60 * 1000,
  /** A connect ticket is single use and only needs to outlive one round trip. */
  connectTicketMs: 30 * 1000,
} as const;
