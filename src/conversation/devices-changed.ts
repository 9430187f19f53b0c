/**
 * @module conversation/devices-changed
 * A member's device list with keys changed (src/user/keys.ts): an end-to-end encrypted
 * conversation logs a `devices_changed` event, so every member (the user's own other
 * devices too) fetches the list again before encrypting for them. The event goes through
 * the log like any other: sequenced, shown to open windows, relays and held feed reads,
 * fanned out to members' queues from the log. A plain conversation, or one the user is
 * not a member of, does nothing.
 *
 * The user's object sends these from its outbox, at least once: a version already logged
 * here for the user (or an older one arriving late) is not logged again. That version is
 * kept as a `meta` row (`devices_version:<userId>`), at most one per member, beside the
 * conversation's own facts (which read only their own keys).
 */
import type { ConversationEvent } from '../protocol/index.js';
import * as eventLog from './log.js';
import { member } from './members.js';
import { loadMeta } from './meta.js';
import type { ConversationParts } from './parts.js';
import type { ConversationStore } from './store.js';

const versionKey = (userId: string) => `devices_version:${userId}`;

/**
 * Logs `userId`'s device list change at `version` (caused by `deviceId`) if this
 * conversation is encrypted, they are a member, and it is newer than the last one logged.
 * Returns the event (for the caller to show and deliver), or null.
 */
export function noteDevicesChanged(parts: ConversationParts, userId: string, deviceId: string, version: number, now: number): ConversationEvent | null {
  const event = logChange(parts.store, userId, deviceId, version, now);
  if (!event) return null;
  // Shown as every new event is (parts.ts, `announce`); the caller kicks the fan-out.
  parts.windows.broadcast([event]);
  parts.relays.broadcast([event]);
  parts.feed.wake();
  return event;
}

function logChange(store: ConversationStore, userId: string, deviceId: string, version: number, now: number): ConversationEvent | null {
  if (!loadMeta(store)?.encrypted || !member(store, userId)) return null;
  return store.transaction(() => {
    const logged = store.sql.exec<{ value: string }>('SELECT value FROM meta WHERE key = ?', versionKey(userId)).toArray()[0];
    if (logged && Number(logged.value) >= version) return null;
    store.sql.exec('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', versionKey(userId), String(version));
    return eventLog.append(store, { type: 'devices_changed', ts: now, author: { userId, deviceId }, userId, version });
  });
}
