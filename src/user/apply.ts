/**
 * @module user/apply
 * Applying what conversations send (./updates.ts) to the inbox and the device queues, in
 * one transaction, each update at most once. What it yields: the new device events (with
 * their cursors), activity hints for large conversations, and the conversations the user
 * just joined (they get the user's block list: src/user/outbox.ts).
 *
 * The queue is stored once per user, so it holds an envelope with the entries of all of
 * the user's devices; what a device is handed is narrowed to its own entry when it is
 * read (./queues.ts `read`) or pushed live (UserDO.pushLive).
 */
import { eventsForUser, type ActivityFrame, type DeviceEvent } from '../protocol/index.js';
import * as inbox from './inbox.js';
import * as queues from './queues.js';
import type { UserUpdate } from './updates.js';

export type ActivityHint = Omit<ActivityFrame, 'type'>;

export interface Applied {
  events: DeviceEvent[];
  hints: ActivityHint[];
  joined: string[];
}

/** Call inside a transaction. */
export function applyUpdates(sql: SqlStorage, userId: string, updates: readonly UserUpdate[], now: number): Applied {
  const fresh: queues.NewDeviceEvent[] = [];
  const hints: ActivityHint[] = [];
  const joined: string[] = [];
  for (const update of updates) {
    switch (update.type) {
      case 'membership': {
        const wasMember = inbox.isMember(sql, update.conversationId);
        if (inbox.applyMembership(sql, update)) {
          if (update.role !== null && !wasMember) joined.push(update.conversationId);
          const { type: _type, ts: _ts, ...rest } = update;
          fresh.push({ ...rest, kind: 'membership' });
        }
        break;
      }
      case 'events':
        // Of an end-to-end encrypted envelope, only the entries for this user's devices are
        // kept (src/protocol/envelopes.ts); each device then reads only its own (./queues.ts).
        for (const event of inbox.applyEvents(sql, userId, { ...update, events: eventsForUser(update.events, userId) })) {
          if (event.type === 'message_deleted') {
            queues.scrubMessage(sql, update.conversationId, event);
            // The message (or an edit of it) may be in this very batch, not queued yet: not with its content either.
            queues.scrubPending(fresh, update.conversationId, event);
          }
          fresh.push({ kind: 'event', conversationId: update.conversationId, event });
        }
        break;
      case 'activity':
        if (inbox.applyActivity(sql, update)) hints.push({ conversationId: update.conversationId, lastSeq: update.seq, ts: update.ts });
        break;
      case 'read':
        inbox.applyRead(sql, update);
        break;
      case 'hidden':
        // The list stops previewing it; the devices' views hide it through the conversation (its frames, history).
        inbox.applyHidden(sql, update);
        break;
    }
  }
  return { events: queues.append(sql, fresh, now), hints, joined };
}
