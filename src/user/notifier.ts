/**
 * @module user/notifier
 * Web Push for a user with no online device: which events become notifications
 * (./notifications.ts), whether the user subscribed at all (so most users' offline
 * messages cost no D1 write), and the senders' display names.
 */
import type { Env } from '../env.js';
import type { DeviceEvent } from '../protocol/index.js';
import { PUSH, clearPushState, hasSubscription, notifyOffline } from '../push/index.js';
import { findUser } from '../auth/accounts.js';
import { currentRequestId, log, reason } from '../log.js';
import { pushCandidates } from './notifications.js';
import * as inbox from './inbox.js';
import type { UserStore } from './store.js';

export class Notifier {
  /** Senders' display names, for this instance's life (a rename shows after an eviction). */
  readonly #names = new Map<string, string>();
  /** Whether the user has a push subscription, as D1 said at `checkedAt`. */
  #check: { subscribed: boolean; checkedAt: number } | null = null;
  /** Bumped by `subscriptionsChanged`, so a D1 answer read before the change is not kept. */
  #generation = 0;

  constructor(
    private readonly store: UserStore,
    private readonly env: Env,
  ) {}

  /** From the push routes: a subscription of this user was saved or deleted in D1. */
  subscriptionsChanged(): void {
    this.#generation++;
    this.#check = null;
  }

  /** Events reached no live device: notify the first message from someone else per conversation. */
  async notifyOffline(events: DeviceEvent[]): Promise<void> {
    const { userId, sql } = this.store;
    const candidates = pushCandidates(userId, events, (id) => inbox.describe(sql, id));
    if (candidates.length === 0 || !(await this.subscribed())) return;
    for (const { senderId, ...job } of candidates) {
      try {
        // The request id of the send, when the conversation passed one (UserDO.apply): the consumer logs it.
        const rid = currentRequestId();
        // An end-to-end encrypted job names nobody (its notification is "New message"): no name is looked up for it.
        const senderName = job.e2e ? senderId : await this.displayName(senderId);
        await notifyOffline(this.env, { ...job, senderName, ...(rid ? { rid } : {}) });
      } catch (err) {
        log.warn('push_queue_failed', { userId, conversationId: job.conversationId, reason: reason(err) });
      }
    }
  }

  /** A device is reading now: open notification bursts end, the next message notifies afresh. */
  async deviceReading(): Promise<void> {
    try {
      await clearPushState(this.env, this.store.userId);
    } catch (err) {
      log.warn('push_state_clear_failed', { userId: this.store.userId, reason: reason(err) });
    }
  }

  /**
   * Whether any device of the user subscribed to push, kept for PUSH.subscriptionCheckMs;
   * the push routes call `subscriptionsChanged` at once.
   */
  private async subscribed(): Promise<boolean> {
    const now = Date.now();
    if (this.#check && now - this.#check.checkedAt < PUSH.subscriptionCheckMs) return this.#check.subscribed;
    const generation = this.#generation;
    const subscribed = await hasSubscription(this.env.DB, this.store.userId);
    if (generation === this.#generation) this.#check = { subscribed, checkedAt: now };
    return subscribed;
  }

  private async displayName(userId: string): Promise<string> {
    let name = this.#names.get(userId);
    if (name === undefined) {
      name = (await findUser(this.env.DB, { id: userId }))?.displayName ?? userId;
      this.#names.set(userId, name);
    }
    return name;
  }
}
