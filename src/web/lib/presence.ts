/**
 * @module web/lib/presence
 * Who is online, shared by the conversation list and the chat header. Filled by the
 * batch query (`ChatClient.presence`, when the list is read and every
 * PRESENCE_REFRESH_MS) and by the live `presence` events of open chat windows.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Presence } from '../../client/index.js';

/**
 * How often the list asks for its peers' presence. Live changes reach only open chat
 * windows over WebSocket, so this is what moves the list's dots, and the header's over
 * SSE and long polling.
 */
export const PRESENCE_REFRESH_MS = 20_000;

const known = new Map<string, Presence>();
/** When each user's presence was last heard, so callers can skip asking again so soon. */
const heardAt = new Map<string, number>();
const listeners = new Set<() => void>();

export function notePresence(updates: readonly Presence[]): void {
  const now = Date.now();
  for (const p of updates) {
    known.set(p.userId, p);
    heardAt.set(p.userId, now);
  }
  for (const listener of listeners) listener();
}

/** Whether `userId`'s presence was heard within `maxAgeMs` (queries are rate limited: ask only when stale). */
export function presenceFresh(userId: string, maxAgeMs: number): boolean {
  return Date.now() - (heardAt.get(userId) ?? 0) < maxAgeMs;
}

export function usePresence(userId: string | null | undefined): Presence | undefined {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const listener = () => setVersion((v) => v + 1);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return userId ? known.get(userId) : undefined;
}

/** "online", "last seen 5 min ago", "offline" (last seen hidden or never), or "" when unknown. */
export function presenceText(p: Presence | undefined, now: number): string {
  if (!p) return '';
  if (p.online) return 'online';
  if (p.lastSeenAt === null) return 'offline';
  const minutes = Math.floor((now - p.lastSeenAt) / 60_000);
  if (minutes < 1) return 'last seen just now';
  if (minutes < 60) return `last seen ${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `last seen ${hours} h ago`;
  const days = Math.floor(hours / 24);
  return `last seen ${days} day${days === 1 ? '' : 's'} ago`;
}
