/**
 * @module user/queues
 * Per-device offline queues (Signal's model): each device has its own ordered queue and
 * a cursor, and acknowledges by cursor. The rows are stored once per user, not once per
 * device: a device's queue is every row after its acked_cursor, and a row is deleted
 * when every known device has acknowledged it. A device is known from its first inbox
 * connection or read; it starts at the current end, older events are in history.
 *
 * Retention: rows older than INBOX.queueRetentionMs, or beyond INBOX.maxQueuedEvents,
 * are dropped; `trimmed_through` remembers the last dropped cursor, so a device whose
 * acknowledged cursor is below it is told it missed events.
 */
import { deviceEventFor, type DeviceEvent, type DeviceEventPage, type DeviceRef, type MessageDeletedEvent, type MessageEvent } from '../protocol/index.js';
import { INBOX } from '../limits.js';
import * as state from './state.js';

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
export type NewDeviceEvent = DistributiveOmit<DeviceEvent, 'cursor'>;

interface QueueRow {
  cursor: number;
  payload: string;
  [key: string]: SqlStorageValue;
}

export function lastCursor(sql: SqlStorage): number {
  return state.get(sql, 'last_cursor');
}

/** Events the least caught-up device has not acknowledged (for the queue-depth metric). */
export function deepest(sql: SqlStorage): number {
  const oldest = sql.exec<{ acked: number | null }>('SELECT min(acked_cursor) AS acked FROM device_cursors').one().acked;
  return oldest === null ? 0 : lastCursor(sql) - oldest;
}

export function hasDevices(sql: SqlStorage): boolean {
  return sql.exec('SELECT 1 FROM device_cursors LIMIT 1').toArray().length > 0;
}

/**
 * Gives each event the next cursor and queues it. With no known device there is nobody
 * to queue for, so nothing is stored but the cursor still advances. `forDevice`: the
 * events are that device's alone (`prekeys_low`); every other device reads past them.
 */
export function append(sql: SqlStorage, events: NewDeviceEvent[], now: number, forDevice: string | null = null): DeviceEvent[] {
  if (events.length === 0) return [];
  let cursor = lastCursor(sql);
  const store = hasDevices(sql);
  const out = events.map((event) => {
    cursor += 1;
    const withCursor = { ...event, cursor } as DeviceEvent;
    if (store) {
      // Events of no conversation (a device's own) are stored under '' and seq 0: no conversation's receipts move for them.
      const [conversationId, seq] = event.kind === 'prekeys_low' ? ['', 0] : [event.conversationId, event.kind === 'event' ? event.event.seq : event.seq];
      sql.exec(
        'INSERT INTO queue (cursor, conversation_id, seq, payload, created_at, device_id) VALUES (?, ?, ?, ?, ?, ?)',
        cursor,
        conversationId,
        seq,
        JSON.stringify(event),
        now,
        forDevice,
      );
    }
    return withCursor;
  });
  state.set(sql, 'last_cursor', cursor);
  if (store) trimToSize(sql);
  return out;
}

/** Makes a device known; a new device starts at the current end of the queue. */
export function registerDevice(sql: SqlStorage, deviceId: string, now: number): number {
  sql.exec(
    'INSERT INTO device_cursors (device_id, acked_cursor, first_seen_at) VALUES (?, ?, ?) ON CONFLICT (device_id) DO NOTHING',
    deviceId,
    lastCursor(sql),
    now,
  );
  return ackedCursor(sql, deviceId);
}

export function ackedCursor(sql: SqlStorage, deviceId: string): number {
  return sql.exec<{ acked_cursor: number }>('SELECT acked_cursor FROM device_cursors WHERE device_id = ?', deviceId).one().acked_cursor;
}

/** Whether events this device had not acknowledged were dropped. */
export function isTruncated(sql: SqlStorage, deviceId: string): boolean {
  return ackedCursor(sql, deviceId) < state.get(sql, 'trimmed_through');
}

/** Moves a truncated device past what was dropped, once it has been told. */
export function skipDropped(sql: SqlStorage, deviceId: string): number {
  sql.exec('UPDATE device_cursors SET acked_cursor = max(acked_cursor, ?) WHERE device_id = ?', state.get(sql, 'trimmed_through'), deviceId);
  return ackedCursor(sql, deviceId);
}

/**
 * The device's events after `after` (or after what it acknowledged, whichever is later),
 * in cursor order, as that device may have them (an encrypted envelope with its own entry
 * only: src/protocol/envelopes.ts). Reading does not acknowledge.
 */
export function read(sql: SqlStorage, device: DeviceRef, after: number, limit: number = INBOX.maxEventsPerRead): DeviceEventPage {
  const { deviceId } = device;
  const truncated = isTruncated(sql, deviceId) && after < state.get(sql, 'trimmed_through');
  const from = Math.max(after, ackedCursor(sql, deviceId), truncated ? state.get(sql, 'trimmed_through') : 0);
  const rows = sql
    .exec<QueueRow>(
      'SELECT cursor, payload FROM queue WHERE cursor > ? AND (device_id IS NULL OR device_id = ?) ORDER BY cursor LIMIT ?',
      from,
      deviceId,
      Math.min(limit, INBOX.maxEventsPerRead),
    )
    .toArray();
  return { events: rows.map((row) => deviceEventFor(toDeviceEvent(row), device)), lastCursor: lastCursor(sql), truncated };
}

export interface Acked {
  /** The device's cursor after the ack. */
  cursor: number;
  /** Per conversation, the highest seq this ack covered (for delivered receipts). */
  reached: Map<string, number>;
}

/** Acknowledges everything up to `cursor` for one device; rows every device has are deleted. */
export function ack(sql: SqlStorage, deviceId: string, cursor: number): Acked {
  const before = ackedCursor(sql, deviceId);
  const to = Math.min(cursor, lastCursor(sql));
  const reached = new Map<string, number>();
  if (to <= before) return { cursor: before, reached };
  const rows = sql.exec<{ conversation_id: string; seq: number }>(
    "SELECT conversation_id, max(seq) AS seq FROM queue WHERE cursor > ? AND cursor <= ? AND conversation_id != '' GROUP BY conversation_id",
    before,
    to,
  );
  for (const row of rows) reached.set(row.conversation_id, row.seq);
  sql.exec('UPDATE device_cursors SET acked_cursor = ? WHERE device_id = ?', to, deviceId);
  sql.exec('DELETE FROM queue WHERE cursor <= (SELECT min(acked_cursor) FROM device_cursors)');
  return { cursor: to, reached };
}

/** Drops rows past the retention age. Rows are in cursor order by age, so the oldest decides. */
export function trimExpired(sql: SqlStorage, now: number): void {
  const cutoff = now - INBOX.queueRetentionMs;
  const oldest = sql.exec<{ created_at: number }>('SELECT created_at FROM queue ORDER BY cursor LIMIT 1').toArray()[0];
  if (!oldest || oldest.created_at >= cutoff) return;
  const last = sql
    .exec<{ cursor: number | null }>('SELECT max(cursor) AS cursor FROM queue WHERE created_at < ?', cutoff)
    .one().cursor;
  if (last !== null) dropThrough(sql, last);
}

/** Forgets a device (signed out): its queue no longer holds rows back. */
export function forgetDevice(sql: SqlStorage, deviceId: string): void {
  sql.exec('DELETE FROM device_cursors WHERE device_id = ?', deviceId);
  sql.exec('DELETE FROM queue WHERE cursor <= (SELECT coalesce(min(acked_cursor), ?) FROM device_cursors)', lastCursor(sql));
}

function trimToSize(sql: SqlStorage): void {
  const { first, last } = sql.exec<{ first: number | null; last: number | null }>('SELECT min(cursor) AS first, max(cursor) AS last FROM queue').one();
  if (first === null || last === null || last - first + 1 <= INBOX.maxQueuedEvents) return;
  dropThrough(sql, last - INBOX.maxQueuedEvents);
}

function dropThrough(sql: SqlStorage, cursor: number): void {
  sql.exec('DELETE FROM queue WHERE cursor <= ?', cursor);
  // Only devices that had not acknowledged the dropped rows lost anything.
  if (sql.exec('SELECT 1 FROM device_cursors WHERE acked_cursor < ? LIMIT 1', cursor).toArray().length > 0) {
    state.set(sql, 'trimmed_through', Math.max(cursor, state.get(sql, 'trimmed_through')));
  }
}

function toDeviceEvent(row: QueueRow): DeviceEvent {
  return { ...(JSON.parse(row.payload) as NewDeviceEvent), cursor: row.cursor } as DeviceEvent;
}

/**
 * A message was deleted (for everyone, or hidden by a moderator): the copies still waiting
 * in the queue become what history shows for it, a tombstone (`deleted`, no `content`),
 * and its edits lose their content too, so no device is handed what was taken back.
 */
export function scrubMessage(sql: SqlStorage, conversationId: string, deletion: MessageDeletedEvent): void {
  sql.exec(
    `UPDATE queue SET payload = json_set(json_remove(payload, '$.event.content'), '$.event.deleted', json(?))
     WHERE conversation_id = ? AND seq = ? AND json_extract(payload, '$.kind') = 'event' AND json_extract(payload, '$.event.type') = 'message'`,
    JSON.stringify(tombstone(deletion)),
    conversationId,
    deletion.targetSeq,
  );
  sql.exec(
    `UPDATE queue SET payload = json_remove(payload, '$.event.content')
     WHERE conversation_id = ? AND json_extract(payload, '$.event.type') = 'message_edited' AND json_extract(payload, '$.event.targetSeq') = ?`,
    conversationId,
    deletion.targetSeq,
  );
}

/** The in-memory side of `scrubMessage`: events of one batch not queued yet. */
export function scrubPending(pending: NewDeviceEvent[], conversationId: string, deletion: MessageDeletedEvent): void {
  for (const item of pending) {
    if (item.kind !== 'event' || item.conversationId !== conversationId) continue;
    const event = item.event;
    if (event.type === 'message' && event.seq === deletion.targetSeq) {
      delete event.content;
      event.deleted = tombstone(deletion);
    } else if (event.type === 'message_edited' && event.targetSeq === deletion.targetSeq) {
      delete event.content;
    }
  }
}

function tombstone(deletion: MessageDeletedEvent): NonNullable<MessageEvent['deleted']> {
  return { scope: deletion.scope, seq: deletion.seq, at: deletion.ts, by: deletion.author.userId };
}
