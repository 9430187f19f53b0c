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

/**
 * The per-device offline queues of the UserDO (see docs/ARCHITECTURE.md, "Offline queues").
 * A device that stays away longer than the retention, or misses more than
 * `maxQueuedEvents`, is told so (`queue_truncated`) and catches up from history.
 */
export const INBOX = {
  queueRetentionMs: 30 * 24 * 60 * 60 * 1000,
  maxQueuedEvents: 10_000,
  /** Device events per `deliver` frame and per `readEvents` page at most. */
  maxEventsPerRead: 200,
  /** A long poll is held this long at most when nothing is waiting. */
  longPollMs: 25_000,
  /** Longest text preview in the conversation list. */
  maxPreviewLength: 100,
  /** Unread counts stop at this (shown as "999+"), so counting stays bounded. */
  maxUnreadCount: 999,
} as const;

/**
 * Presence timing. Clients ping every `pingIntervalMs` (answered by the runtime without
 * waking the object); an alarm checks every `checkIntervalMs` while a device is online,
 * and a socket silent for `staleAfterMs` is closed, so a half-open socket goes offline
 * within staleAfterMs + checkIntervalMs (90 s).
 */
export const PRESENCE = {
  pingIntervalMs: 25_000,
  staleAfterMs: 60_000,
  checkIntervalMs: 30_000,
  /** Changes within this window are merged: at most one relay at its start and one at its end. */
  coalesceMs: 3_000,
  /** A conversation's subscription to its members' presence lasts this long unless renewed. */
  subscriptionTtlMs: 10 * 60_000,
  /** Most users in one presence query. */
  maxQueryUsers: 200,
} as const;
