/**
 * @module protocol/limits
 * The limits and timings a client needs or can act on: what it may send, what it will
 * receive and how long the server holds a request. Both the worker and the SDK import
 * this module, so it ships to browsers: settings only the worker uses (retention, queue
 * caps, presence and receipt timings, credential lifetimes, fan-in) live in src/limits.ts,
 * which extends these objects. docs/PROTOCOL.md lists both; change them there together.
 */
export const LIMITS = {
  /** Largest WebSocket frame or JSON request body accepted, checked before parsing. */
  maxFrameBytes: 64 * 1024,
  /**
   * Longest text message, in Unicode code points (src/protocol/text.ts): an emoji counts
   * once, though `String.length` counts two. Other string limits here count UTF-16 code units.
   */
  maxTextLength: 4_000,
  /**
   * Most members a group can have. Past RELAY_MIN_MEMBERS a group's live readers are spread
   * over relays, and past maxListedMembers its members are read a page at a time
   * (docs/SCALING.md, "Channels").
   */
  maxGroupMembers: 100_000,
  /**
   * Most members listed at once: a conversation's info carries its first this many (with
   * `memberCount`), and a page of GET /members at most this many. Also the most member ids
   * one creation names, and the most watermarks a receipts overview returns.
   */
  maxListedMembers: 1_000,
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
 * the windows bind authors. A client can use them to offer edit and delete only while
 * they would succeed.
 */
export const LIFECYCLE = {
  /** An author may edit a message this long after sending it (WhatsApp: 15 minutes). */
  editWindowMs: 15 * 60 * 1000,
  /** An author may delete a message for everyone this long after sending it (WhatsApp: about 2 days). */
  deleteWindowMs: 48 * 60 * 60 * 1000,
} as const;

/** Typing indicators: never stored, they expire by themselves. */
export const TYPING = {
  /** A typing indicator without a refresh ends after this long. */
  ttlMs: 5_000,
  /** A device may send at most one `typing` start per this interval; clients refresh every ~3 s. */
  minIntervalMs: 1_000,
} as const;

/** The device event stream (inbox socket, SSE, long poll) as a client sees it. */
export const INBOX = {
  /** A long poll is held this long at most when nothing is waiting. */
  longPollMs: 25_000,
  /**
   * An SSE stream with nothing to deliver writes a comment this often, so clients (and
   * proxies) can tell a quiet stream from a dead one.
   */
  sseHeartbeatMs: 15_000,
  /** Longest text preview in the conversation list, in code points. */
  maxPreviewLength: 100,
  /** Unread counts stop at this (shown as "999+"), so counting stays bounded. */
  maxUnreadCount: 999,
} as const;

/** Presence queries; the server's presence timings are in src/limits.ts. */
export const PRESENCE = {
  /** Most users in one presence query. */
  maxQueryUsers: 200,
} as const;

/** Blocking and reporting. */
export const MODERATION = {
  /** Longest reason a reporter can give. */
  maxReportReasonLength: 500,
} as const;

/**
 * End-to-end encryption (docs/E2E.md). The server stores and relays ciphertext it cannot
 * read; these bound what it stores per device and what one encrypted message may carry.
 */
export const E2EE = {
  /** Devices of one user that may hold keys (and so receive end-to-end encrypted messages). */
  maxDevicesPerUser: 10,
  /** One-time prekeys (each kind: classic and post-quantum) one device may have stored. */
  maxOneTimePreKeys: 200,
  /** One-time prekeys of each kind in one upload. */
  maxPreKeysPerUpload: 100,
  /** Below this many one-time prekeys of a kind left, the device is told to upload more. */
  lowPreKeyThreshold: 20,
  /** Longest public key or signature field, base64url characters (a Kyber-1024 key is 1,569 bytes: 2,092). */
  maxKeyLength: 2_200,
  /** Longest shared body of an encrypted message, base64url characters (~36 KiB of ciphertext). */
  maxBodyLength: 49_152,
  /** Longest per-device ciphertext, base64url characters (a prekey message carries a Kyber-1024 ciphertext). */
  maxEntryLength: 4_096,
  /** Per-device entries in one encrypted message. */
  maxEntries: 100,
  /** Members of an end-to-end encrypted group (Sender Keys distribute per device). */
  maxEncryptedGroupMembers: 100,
  /** Media items one encrypted message may refer to. */
  maxMediaPerMessage: 10,
  /**
   * Largest body of `PUT /v1/keys` and `POST /v1/keys/prekeys`, instead of
   * `LIMITS.maxFrameBytes`: a full batch of post-quantum one-time prekeys (100 Kyber-1024
   * keys with signatures, ~2.2 KB each) is over 200 KiB.
   */
  maxKeyUploadBytes: 512 * 1024,
} as const;
