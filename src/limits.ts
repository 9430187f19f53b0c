/**
 * @module limits
 * The worker's limit objects: each is the client-facing part from src/protocol (which the
 * SDK bundles, so it ships to browsers) plus the settings only the worker uses. Server
 * modules import these; src/client and src/web must not (nothing here is on the wire).
 * docs/PROTOCOL.md lists the numbers; change them there too.
 */
import { E2EE as WIRE_E2EE, FEED as WIRE_FEED, INBOX as WIRE_INBOX, LIFECYCLE as WIRE_LIFECYCLE, MODERATION as WIRE_MODERATION, PRESENCE as WIRE_PRESENCE } from './protocol/index.js';

/** Message lifecycle: the authors' windows (protocol) and how long moderated content is kept. */
export const LIFECYCLE = {
  ...WIRE_LIFECYCLE,
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

/** Lifetimes of credentials, in milliseconds (clients read expiry times from the session, not these). */
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
 * The device event stream (protocol) and the per-device offline queues of the UserDO
 * (see docs/ARCHITECTURE.md, "Offline queues"). A device that stays away longer than the
 * retention, or misses more than `maxQueuedEvents`, is told so (`queue_truncated`) and
 * catches up from history.
 */
export const INBOX = {
  ...WIRE_INBOX,
  queueRetentionMs: 30 * 24 * 60 * 60 * 1000,
  maxQueuedEvents: 10_000,
  /** Device events per `deliver` frame and per `readEvents` page at most. */
  maxEventsPerRead: 200,
  /**
   * An SSE stream ends after this long; the client reconnects with Last-Event-ID. The
   * bound re-checks the session (a signed-out device stops within it) and keeps no
   * request open for hours behind proxies that cut long responses anyway.
   */
  sseMaxLifetimeMs: 5 * 60_000,
} as const;

/** A conversation's HTTP feed (protocol) and what the conversation object allows it. */
export const FEED = {
  ...WIRE_FEED,
  /** Events per long-poll answer and per SSE message at most. */
  pageSize: 100,
  /** An SSE feed ends after this long; the client reconnects with Last-Event-ID (the session is checked again). */
  sseMaxLifetimeMs: 5 * 60_000,
  /**
   * Feed requests one conversation holds open at once. Each keeps the object awake (a
   * held request is not a hibernatable socket), so past this they are refused with
   * `rate_limited` until some end.
   */
  maxWaiting: 1_000,
} as const;

/**
 * Presence timing. The runtime answers clients' pings without waking the object (the SDK
 * pings every 20 s: KEEPALIVE_DEFAULTS in src/client/transports/types.ts); an alarm checks
 * every `checkIntervalMs` while a device is online, and a socket silent for
 * `staleAfterMs` is closed, so a half-open socket goes offline within
 * staleAfterMs + checkIntervalMs (90 s).
 */
export const PRESENCE = {
  ...WIRE_PRESENCE,
  staleAfterMs: 60_000,
  checkIntervalMs: 30_000,
  /** Changes within this window are merged: at most one relay at its start and one at its end. */
  coalesceMs: 3_000,
  /** A conversation's subscription to its members' presence lasts this long unless renewed. */
  subscriptionTtlMs: 10 * 60_000,
  /**
   * Conversations with more members do not subscribe to their members' presence (one call
   * per member per renewal); relays, which hold larger audiences' windows, carry none.
   */
  maxMembers: 1_000,
} as const;

/** Blocking and reporting. */
export const MODERATION = {
  ...WIRE_MODERATION,
  /** Most users one user can block. */
  maxBlocks: 1_000,
} as const;

/**
 * The key directory (protocol) and what the UserDO keeps of it (src/user/keys.ts). A
 * rotated signed prekey is kept this long, then deleted: as long as a device keeps the
 * private half to answer prekey messages made from bundles claimed before the rotation
 * (Signal's clients archive theirs for 30 days). Nothing serves the retired keys yet;
 * they are kept so the directory can say which keys it handed out during that time.
 */
export const E2EE = {
  ...WIRE_E2EE,
  signedPreKeyGraceMs: 30 * 24 * 60 * 60 * 1000,
} as const;
