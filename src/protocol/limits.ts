/**
 * @module protocol/limits
 * Every size and count limit of the service, in one place. Both the worker and the SDK
 * import these, and docs/PROTOCOL.md lists them; change them here and there together.
 */
export const LIMITS = {
  /** Largest WebSocket frame or JSON request body accepted, checked before parsing. */
  maxFrameBytes: 64 * 1024,
  /**
   * Longest text message, in Unicode code points (src/protocol/text.ts): an emoji counts
   * once, though `String.length` counts two. Other string limits here count UTF-16 code units.
   */
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
  /** How much of a replied-to message a reply quotes, in code points. */
  maxQuoteLength: 100,
  /** A reaction is one short string (an emoji, possibly with modifiers). */
  maxReactionLength: 16,
  /** Distinct reactions one user may put on one message. */
  maxReactionsPerUser: 20,
  /** Search queries: characters, and words used from them. */
  maxSearchQueryLength: 200,
  maxSearchTerms: 8,
  /** Default and largest search page. */
  defaultSearchPageSize: 20,
  maxSearchPageSize: 50,
} as const;

/**
 * Message lifecycle windows, in milliseconds. Admins may delete any message at any time;
 * the windows bind authors.
 */
export const LIFECYCLE = {
  /** An author may edit a message this long after sending it (WhatsApp: 15 minutes). */
  editWindowMs: 15 * 60 * 1000,
  /** An author may delete a message for everyone this long after sending it (WhatsApp: about 2 days). */
  deleteWindowMs: 48 * 60 * 60 * 1000,
  /** A moderated (soft-deleted) message keeps its content this long for compliance, then it is erased. */
  moderationRetentionMs: 30 * 24 * 60 * 60 * 1000,
} as const;

/** Receipts: how often watermark changes are pushed to open windows, and history precision. */
export const RECEIPTS = {
  /** At most one `receipts` frame per conversation per interval. */
  flushIntervalMs: 500,
  /**
   * Moves of one member's watermark within this long of each other share one history
   * row, so the detail call's times are exact to within this much.
   */
  historyResolutionMs: 1_000,
} as const;

/** Typing indicators: never stored, they expire by themselves. */
export const TYPING = {
  /** A typing indicator without a refresh ends after this long. */
  ttlMs: 5_000,
  /** A device may send at most one `typing` start per this interval; clients refresh every ~3 s. */
  minIntervalMs: 1_000,
} as const;

/** Lifetimes of credentials, in milliseconds. */
export const LIFETIMES = {
  accessTokenMs: 15 * 60 * 1000,
  refreshTokenMs: 30 * 24 * 60 * 60 * 1000,
  /** A connect ticket is single use and only needs to outlive one round trip. */
  connectTicketMs: 30 * 1000,
} as const;

/**
 * Search across all of a user's conversations is fanned in from each conversation's own
 * index, so its cost is bounded here: at most `maxConversations` calls (the most
 * recently joined first), `concurrency` at a time, each returning at most the page size.
 */
export const SEARCH_FAN_IN = {
  maxConversations: 50,
  concurrency: 10,
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
  /**
   * An SSE stream with nothing to deliver writes a comment this often, so clients (and
   * proxies) can tell a quiet stream from a dead one.
   */
  sseHeartbeatMs: 15_000,
  /**
   * An SSE stream ends after this long; the client reconnects with Last-Event-ID. The
   * bound re-checks the session (a signed-out device stops within it) and keeps no
   * request open for hours behind proxies that cut long responses anyway.
   */
  sseMaxLifetimeMs: 5 * 60_000,
  /** Longest text preview in the conversation list, in code points. */
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

/** Blocking and reporting. */
export const MODERATION = {
  /** Most users one user can block. */
  maxBlocks: 1_000,
  /** Longest reason a reporter can give. */
  maxReportReasonLength: 500,
} as const;
