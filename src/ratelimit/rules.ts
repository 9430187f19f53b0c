/**
 * @module ratelimit/rules
 * Every rate limit of the service, in one table. docs/PROTOCOL.md lists the same numbers.
 * Accounts younger than NEW_ACCOUNT_AGE_MS are on the `new` tier: spam accounts are
 * usually fresh, and a real user rarely needs the full rate on day one.
 */
import type { WindowRule } from './sliding-window.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * `service` is never earned: an operator sets `users.trust = 'service'` in D1 for accounts
 * that are not people (bots, imports, load tests). Its limits are high, not absent, so a
 * leaked service credential is still bounded.
 */
export type Tier = 'new' | 'standard' | 'service';

export const NEW_ACCOUNT_AGE_MS = 24 * HOUR;

export interface TierLimits {
  /** Messages per user across all conversations. */
  userMessages: WindowRule;
  /** Messages per user in one conversation. */
  conversationMessages: WindowRule;
  /** Typing frames per device. */
  typing: WindowRule;
  /** Read-receipt updates per device. */
  receipts: WindowRule;
  /**
   * Batch presence queries per user. A client on a fallback wire asks every few seconds
   * for an open chat (it has no live presence frames), so new accounts get 60 a minute.
   */
  presenceQueries: WindowRule;
  /** Media upload requests per user. */
  mediaUploads: WindowRule;
  /** WebSocket connect tickets per device: a burst of network drops asks for dozens, so not fewer than 60 a minute. */
  connectTickets: WindowRule;
  /** Reaction toggles per user in one conversation: each is logged, broadcast and fanned out like a message. */
  reactions: WindowRule;
  /** Edits per user in one conversation. */
  edits: WindowRule;
  /** Deletes (for everyone, moderation and for me) per user in one conversation. */
  deletes: WindowRule;
  /** Member changes (adds, removals, role changes) per user, across conversations. */
  memberChanges: WindowRule;
  /** Reports filed per user. */
  reports: WindowRule;
  /**
   * Key claims (`POST /v1/users/:userId/keys/claim`) per user: each takes one-time prekeys
   * another user's devices must replace, so draining them is bounded. Starting an encrypted
   * group of E2EE.maxEncryptedGroupMembers (100) takes one claim per member.
   */
  keyClaims: WindowRule;
}

/**
 * Chat windows one device holds open on one conversation, by tier: opening another closes
 * one of its others (4009). Upgrades with the bearer subprotocol are not rate-limited, so
 * this bounds a device's share of a conversation's sockets; a service account (a bot, a
 * bridge, the benchmark) may hold many.
 */
export const WINDOWS_PER_DEVICE: Record<Tier, number> = { new: 8, standard: 8, service: 1_000 };

export const TIER_LIMITS: Record<Tier, TierLimits> = {
  standard: {
    userMessages: { limit: 100, windowMs: MINUTE },
    conversationMessages: { limit: 50, windowMs: MINUTE },
    typing: { limit: 30, windowMs: MINUTE },
    receipts: { limit: 120, windowMs: MINUTE },
    presenceQueries: { limit: 120, windowMs: MINUTE },
    mediaUploads: { limit: 30, windowMs: MINUTE },
    connectTickets: { limit: 120, windowMs: MINUTE },
    reactions: { limit: 120, windowMs: MINUTE },
    edits: { limit: 30, windowMs: MINUTE },
    deletes: { limit: 60, windowMs: MINUTE },
    memberChanges: { limit: 60, windowMs: MINUTE },
    reports: { limit: 20, windowMs: HOUR },
    keyClaims: { limit: 300, windowMs: MINUTE },
  },
  new: {
    userMessages: { limit: 30, windowMs: MINUTE },
    conversationMessages: { limit: 20, windowMs: MINUTE },
    typing: { limit: 20, windowMs: MINUTE },
    receipts: { limit: 60, windowMs: MINUTE },
    presenceQueries: { limit: 60, windowMs: MINUTE },
    mediaUploads: { limit: 5, windowMs: MINUTE },
    connectTickets: { limit: 60, windowMs: MINUTE },
    reactions: { limit: 30, windowMs: MINUTE },
    edits: { limit: 10, windowMs: MINUTE },
    deletes: { limit: 10, windowMs: MINUTE },
    memberChanges: { limit: 20, windowMs: MINUTE },
    reports: { limit: 5, windowMs: HOUR },
    keyClaims: { limit: 120, windowMs: MINUTE },
  },
  service: {
    userMessages: { limit: 10_000, windowMs: MINUTE },
    conversationMessages: { limit: 5_000, windowMs: MINUTE },
    typing: { limit: 600, windowMs: MINUTE },
    receipts: { limit: 6_000, windowMs: MINUTE },
    presenceQueries: { limit: 600, windowMs: MINUTE },
    mediaUploads: { limit: 600, windowMs: MINUTE },
    connectTickets: { limit: 600, windowMs: MINUTE },
    reactions: { limit: 6_000, windowMs: MINUTE },
    edits: { limit: 3_000, windowMs: MINUTE },
    deletes: { limit: 3_000, windowMs: MINUTE },
    memberChanges: { limit: 600, windowMs: MINUTE },
    reports: { limit: 100, windowMs: HOUR },
    keyClaims: { limit: 3_000, windowMs: MINUTE },
  },
};

/** Limits on account operations, keyed by handle or client address rather than user. */
export const ACCOUNT_LIMITS = {
  /** Login attempts from one client address. */
  loginsPerAddress: { limit: 30, windowMs: 15 * MINUTE },
  /** Registrations from one client address. */
  registrationsPerAddress: { limit: 10, windowMs: HOUR },
  /**
   * Registrations from this machine (a loopback address) when not in production: under
   * `wrangler dev` every local client, browser or script, is the same address and the
   * count is kept on disk across restarts, so 10 an hour would lock local development
   * (and the README's tour) out. Production never uses it (`registrationRule`).
   */
  localRegistrationsPerAddress: { limit: 1_000, windowMs: HOUR },
} as const satisfies Record<string, WindowRule>;

/** Addresses of this machine, as `cf-connecting-ip` (or its absence, `local`) shows them. */
const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|local)$/;

/**
 * The registration limit for a client `address`: the local one only for a loopback
 * address outside production (`ENVIRONMENT` is "production" there); otherwise, and
 * always in production, `registrationsPerAddress`.
 */
export function registrationRule(environment: string | undefined, address: string): WindowRule {
  return environment !== 'production' && LOOPBACK.test(address) ? ACCOUNT_LIMITS.localRegistrationsPerAddress : ACCOUNT_LIMITS.registrationsPerAddress;
}

/**
 * Failed logins to one handle: after `freeFailures` in a row, the next attempt must wait
 * baseDelayMs × 2^(failures − freeFailures), up to maxDelayMs. A success resets the count.
 * Someone who knows a handle can slow its owner's logins this way, but only by minutes:
 * the price of making password guessing impractical.
 */
export const LOGIN_BACKOFF = {
  freeFailures: 5,
  baseDelayMs: 1_000,
  maxDelayMs: 15 * MINUTE,
} as const;

/**
 * Reputation: an account reported by at least `reportersToDemote` distinct users within
 * `windowMs` is on the `new` tier, whatever its age, until the reports age out of the
 * window. Distinct reporters, so one user cannot demote someone by reporting repeatedly.
 */
export const REPUTATION = {
  reportersToDemote: 3,
  windowMs: 7 * 24 * HOUR,
} as const;

/**
 * The per-user message allowance a conversation leases from the user's UserDO (see
 * docs/ARCHITECTURE.md, "Abuse control"). A lease is at most `batchFraction` of the limit
 * (10 sends of the standard 100), and at most half of what is left, so near the limit
 * leases shrink to one send and no conversation sits on tokens another needs. It is usable for `ttlMs` (minus `marginMs`, for clock skew
 * between objects); the UserDO counts unused tokens of a live lease as spent until then.
 */
export const SEND_LEASE = {
  batchFraction: 0.1,
  ttlMs: 10_000,
  marginMs: 500,
} as const;

/**
 * The message limits of a tier. A deployment may raise the `service` tier's, per user and
 * per conversation, with SERVICE_TIER_MESSAGES_PER_MINUTE (imports, load tests: the
 * benchmark sets it); the tiers of people are not configurable.
 */
export function messageRules(tier: Tier, env: { SERVICE_TIER_MESSAGES_PER_MINUTE?: string | undefined }): Pick<TierLimits, 'userMessages' | 'conversationMessages'> {
  const { userMessages, conversationMessages } = TIER_LIMITS[tier];
  const raised = tier === 'service' ? Number(env.SERVICE_TIER_MESSAGES_PER_MINUTE) : Number.NaN;
  if (!Number.isSafeInteger(raised) || raised <= 0) return { userMessages, conversationMessages };
  const rule = { limit: raised, windowMs: MINUTE };
  return { userMessages: rule, conversationMessages: rule };
}

export function tierOf(accountCreatedAt: number, now: number, demoted = false, trust: string | null = null): Tier {
  if (trust === 'service') return 'service';
  return demoted || now - accountCreatedAt < NEW_ACCOUNT_AGE_MS ? 'new' : 'standard';
}

export function loginBackoffMs(failures: number): number {
  const over = failures - LOGIN_BACKOFF.freeFailures;
  if (over < 0) return 0;
  return Math.min(LOGIN_BACKOFF.baseDelayMs * 2 ** over, LOGIN_BACKOFF.maxDelayMs);
}
