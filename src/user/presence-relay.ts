/**
 * @module user/presence-relay
 * The user's presence as a live thing: online while a device holds an inbox socket or
 * reads its stream over HTTP; changes relayed, coalesced, to the conversations with an
 * open chat window that subscribed (./presence.ts keeps the stored state); and who may
 * see it at all.
 *
 * Presence is private: a user's real presence is shown only to people who share a
 * conversation with them (a member of one of the user's current conversations), and
 * never to someone they blocked. Everyone else gets `{ online: false, lastSeenAt: null }`,
 * the same answer as for an id nobody has, so the answer tells a stranger nothing, not
 * even that the user exists or blocked them. Hiding last seen keeps it null for everyone.
 */
import type { Presence } from '../protocol/index.js';
import type { Env } from '../env.js';
import { log, reason } from '../log.js';
import * as presence from './presence.js';
import * as blocks from './blocks.js';
import type { UserStore } from './store.js';
import { conversationStub } from '../placement.js';

/** What anyone who may not see a user's presence gets: the same as for an unknown id. */
export const hiddenPresence = (userId: string): Presence => ({ userId, online: false, lastSeenAt: null });

export class PresenceRelay {
  constructor(
    private readonly store: UserStore,
    private readonly env: Env,
    /** Whether any device is online, not counting `leaving` sockets. */
    private readonly isOnline: (leaving: WebSocket[]) => boolean,
    /** Wake the object at `at` (the end of a coalescing window). */
    private readonly wakeAt: (at: number) => Promise<void>,
  ) {}

  /** The presence as the user's own conversations see it (relays, subscriptions, the owner). */
  snapshot(): Presence {
    return presence.snapshot(this.store.sql, this.store.userId);
  }

  /**
   * The user's presence as `viewerId` may see it: real only when they share one of the
   * user's current conversations (`viewerConversationIds`: the viewer's list, from their
   * own UserDO) and the user did not block them; else hidden.
   */
  visibleTo(viewerId: string, viewerConversationIds: readonly string[]): Presence {
    const { sql, userId } = this.store;
    if (viewerId === userId) return this.snapshot();
    if (blocks.isBlocked(sql, viewerId) || viewerConversationIds.length === 0) return hiddenPresence(userId);
    const shared = sql
      .exec(
        'SELECT 1 FROM conversations WHERE role IS NOT NULL AND conversation_id IN (SELECT value FROM json_each(?)) LIMIT 1',
        JSON.stringify(viewerConversationIds),
      )
      .toArray().length > 0;
    return shared ? this.snapshot() : hiddenPresence(userId);
  }

  /** Records whether the user is online now; a change is relayed now or at the end of the coalescing window. */
  async mayHaveChanged(now: number, leaving: WebSocket[] = []): Promise<void> {
    if (!presence.setOnline(this.store.sql, this.isOnline(leaving), now)) return;
    const decision = presence.relayDecision(this.store.sql, now);
    if (decision.kind === 'now') await this.relay(now);
    else if (decision.kind === 'later') await this.wakeAt(decision.at);
  }

  /** When a coalesced relay is due, or null. */
  pendingAt(): number | null {
    return presence.pendingRelayAt(this.store.sql);
  }

  /** Tells the subscribed conversations (open chat windows) the current presence, if it is due. */
  async relay(now: number): Promise<void> {
    const sql = this.store.sql;
    if (presence.relayDecision(sql, now).kind !== 'now') return;
    const snapshot = this.snapshot();
    presence.markRelayed(sql, snapshot.online, now);
    const { subscriptions } = presence.subscribers(sql, now);
    await Promise.all(
      subscriptions.map(async (heard) => {
        try {
          const stillOpen = await conversationStub(this.env, heard.conversationId).relayPresence(snapshot);
          if (!stillOpen) presence.unsubscribeIfUnrenewed(sql, heard);
        } catch (err) {
          log.warn('presence_relay_failed', { userId: this.store.userId, conversationId: heard.conversationId, reason: reason(err) });
        }
      }),
    );
  }
}
