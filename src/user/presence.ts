/**
 * @module user/presence
 * Presence of one user: online while at least one device has a live inbox socket,
 * offline with a last-seen time when the last one goes. Liveness comes from the
 * runtime's ping auto-response timestamps, checked by an alarm, so pings never wake the
 * object. Changes are relayed only to conversations that subscribed (they have an open
 * chat window), and coalesced: within PRESENCE.coalesceMs at most one relay at the
 * start and one at the end, and none if the state flapped back.
 */
import { type Presence } from '../protocol/index.js';
import { PRESENCE } from '../limits.js';
import * as state from './state.js';

/** Kept in each inbox socket's attachment, so it survives hibernation. */
export interface InboxAttachment {
  deviceId: string;
  connectedAt: number;
  /** Last frame the client sent (pings are answered by the runtime and not seen here). */
  lastMessageAt: number;
}

/** The latest sign of life of a socket: its last auto-answered ping, message or connect. */
export function lastSignOfLife(attachment: InboxAttachment, autoResponseAt: Date | null): number {
  return Math.max(attachment.connectedAt, attachment.lastMessageAt, autoResponseAt?.getTime() ?? 0);
}

export function isStale(lastSignOfLifeAt: number, now: number): boolean {
  return now - lastSignOfLifeAt > PRESENCE.staleAfterMs;
}

/** Records whether the user is online; true when that changed. Going offline stamps last seen. */
export function setOnline(sql: SqlStorage, online: boolean, now: number): boolean {
  if ((state.get(sql, 'online') === 1) === online) return false;
  state.set(sql, 'online', online ? 1 : 0);
  if (!online) state.set(sql, 'last_seen_at', now);
  return true;
}

/** The user's presence as others may see it (last seen hidden if they asked). */
export function snapshot(sql: SqlStorage, userId: string): Presence {
  const online = state.get(sql, 'online') === 1;
  const lastSeen = state.get(sql, 'last_seen_at');
  const hidden = state.get(sql, 'hide_last_seen') === 1;
  return { userId, online, lastSeenAt: online || hidden || lastSeen === 0 ? null : lastSeen };
}

export function setHideLastSeen(sql: SqlStorage, hide: boolean): void {
  state.set(sql, 'hide_last_seen', hide ? 1 : 0);
}

export type RelayDecision = { kind: 'none' } | { kind: 'now' } | { kind: 'later'; at: number };

/**
 * Whether to relay now, later (the end of the coalescing window), or not at all (what
 * subscribers last heard is still true).
 */
export function relayDecision(sql: SqlStorage, now: number): RelayDecision {
  const online = state.get(sql, 'online');
  const relayedAt = state.get(sql, 'relayed_at');
  if (online === state.get(sql, 'relayed_online') && relayedAt > 0) {
    state.set(sql, 'relay_pending', 0);
    return { kind: 'none' };
  }
  if (now - relayedAt >= PRESENCE.coalesceMs) return { kind: 'now' };
  const at = relayedAt + PRESENCE.coalesceMs;
  state.set(sql, 'relay_pending', at);
  return { kind: 'later', at };
}

export function markRelayed(sql: SqlStorage, online: boolean, now: number): void {
  state.set(sql, 'relayed_online', online ? 1 : 0);
  state.set(sql, 'relayed_at', now);
  state.set(sql, 'relay_pending', 0);
}

/** When a coalesced relay is due, or null. */
export function pendingRelayAt(sql: SqlStorage): number | null {
  return state.get(sql, 'relay_pending') || null;
}

export function subscribe(sql: SqlStorage, conversationId: string, expiresAt: number): void {
  sql.exec(
    `INSERT INTO presence_subscriptions (conversation_id, expires_at) VALUES (?, ?)
     ON CONFLICT (conversation_id) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)`,
    conversationId,
    expiresAt,
  );
}

export function unsubscribe(sql: SqlStorage, conversationId: string): void {
  sql.exec('DELETE FROM presence_subscriptions WHERE conversation_id = ?', conversationId);
}

/** One conversation's subscription, with the expiry it had when read. */
export interface Subscription {
  conversationId: string;
  expiresAt: number;
}

/**
 * Drops a subscription a relay found no window for, unless a window renewed it since the
 * relay read it (a renewal only ever moves the expiry later): the relay's answer is older
 * than that window.
 */
export function unsubscribeIfUnrenewed(sql: SqlStorage, heard: Subscription): void {
  sql.exec('DELETE FROM presence_subscriptions WHERE conversation_id = ? AND expires_at = ?', heard.conversationId, heard.expiresAt);
}

export interface Subscribers {
  subscriptions: Subscription[];
  /** Rows SQLite read to find them: bounded by subscriptions, never by contacts. */
  rowsRead: number;
}

/** The conversations to relay a change to; expired subscriptions are dropped on the way. */
export function subscribers(sql: SqlStorage, now: number): Subscribers {
  const cursor = sql.exec<{ conversation_id: string; expires_at: number }>('SELECT conversation_id, expires_at FROM presence_subscriptions');
  const rows = cursor.toArray();
  const expired = rows.filter((r) => r.expires_at <= now);
  for (const row of expired) unsubscribe(sql, row.conversation_id);
  const subscriptions = rows.filter((r) => r.expires_at > now).map((r) => ({ conversationId: r.conversation_id, expiresAt: r.expires_at }));
  return { subscriptions, rowsRead: cursor.rowsRead };
}
