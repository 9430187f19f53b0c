/**
 * @module push/settings
 * Every timing of push notifications, in one place (documented in docs/ARCHITECTURE.md, "Push notifications").
 */
export const PUSH = {
  /**
   * A burst: messages of one conversation to one offline user that produce one
   * notification. The first message notifies at once; later ones within this window are
   * folded into it. After the window a new message notifies again (replacing the old
   * notification, same Topic and tag), so someone who ignores a busy group is reminded
   * at most this often. A device coming online ends every burst of its user.
   */
  collapseWindowMs: 5 * 60 * 1000,
  /**
   * How long a push service keeps a notification for a device that is off (RFC 8030
   * `TTL`). Past a day the messages are better read from the app than from a stale alert.
   */
  ttlSeconds: 24 * 60 * 60,
  /** A push service that has not answered by then is treated as down (and retried). */
  requestTimeoutMs: 10_000,
  /** Queue retry backoff: base · 2^(attempt-1), capped; a 429's Retry-After wins if longer. */
  retryBaseDelaySeconds: 10,
  retryMaxDelaySeconds: 10 * 60,
  /**
   * How long a UserDO trusts what D1 said about whether its user has a push subscription.
   * The push routes tell the UserDO at once when a subscription is saved or deleted; this
   * only bounds how long a missed word could silence pushes.
   */
  subscriptionCheckMs: 60_000,
  /** VAPID JWT lifetime; RFC 8292 §2 allows at most 24 hours. */
  vapidTokenSeconds: 12 * 60 * 60,
} as const;
