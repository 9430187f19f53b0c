/**
 * @module user/stream
 * The device event stream over plain HTTP: Server-Sent Events and long polling. Both
 * carry what the inbox socket carries (InboxFrames from src/protocol/inbox.ts), read
 * from the UserDO's RPC (`readEvents`, `waitForEvents`, `ackEvents`), so the object
 * itself stays a dispatcher and holds no HTTP state.
 *
 * SSE: one `deliver` message per device event, its SSE `id` the event's cursor, so a
 * reconnect with `Last-Event-ID` resumes exactly after the last event the client got
 * (a cursor, never a time window). Resuming acknowledges everything up to that cursor.
 * A quiet stream writes a comment every INBOX.sseHeartbeatMs and ends after
 * INBOX.sseMaxLifetimeMs. A refusal from the UserDO (the device was revoked: its held
 * read ends at once) is written as an `error` frame with its code, and the stream ends.
 */
import { type DeviceEvent, type DeviceEventPage, type InboxFrame } from '../protocol/index.js';
import { INBOX } from '../limits.js';
import { AppError, unwrap, type Result } from '../errors.js';
import { log, reason } from '../log.js';
import { SSE_HEARTBEAT, SSE_RETRY_MS, pullStream, sseMessage } from '../sse.js';

/** One SSE message of the device event stream. */
const message = (frame: InboxFrame, id?: number): string => sseMessage(frame, id);

/** What the stream needs from the UserDO (its RPC methods, narrowed for testing). */
export interface EventSource {
  readEvents(deviceId: string, afterCursor: number): Promise<Result<DeviceEventPage>>;
  waitForEvents(deviceId: string, afterCursor: number, timeoutMs: number): Promise<Result<DeviceEventPage>>;
  ackEvents(deviceId: string, cursor: number): Promise<Result<{ cursor: number }>>;
}

export interface StreamOptions {
  userId: string;
  deviceId: string;
  /** Resume after this cursor (acknowledging up to it); null starts after what the device acknowledged. */
  cursor: number | null;
  now?: () => number;
  heartbeatMs?: number;
  lifetimeMs?: number;
}

/** The SSE messages for a page of device events: one `deliver` per event, its id the cursor. */
export function deliverMessages(events: readonly DeviceEvent[]): string {
  return events.map((event) => message({ type: 'deliver', events: [event] }, event.cursor)).join('');
}

function truncatedFrame(page: DeviceEventPage, after: number): InboxFrame {
  return {
    type: 'queue_truncated',
    resumeCursor: page.events[0] ? page.events[0].cursor - 1 : Math.max(after, page.lastCursor),
    message: "Some events were dropped while this device was away; catch up from each conversation's history.",
  };
}

/**
 * The SSE body: `inbox_ready`, the backlog, `caught_up`, then live events and heartbeats
 * until the lifetime ends. Pull-driven, so a slow reader is never buffered for, and a
 * client that goes away stops the reads.
 */
export function sseStream(source: EventSource, options: StreamOptions): ReadableStream<Uint8Array> {
  const now = options.now ?? Date.now;
  const heartbeatMs = options.heartbeatMs ?? INBOX.sseHeartbeatMs;
  const endsAt = now() + (options.lifetimeMs ?? INBOX.sseMaxLifetimeMs);
  const { deviceId } = options;
  let after = 0;
  let phase: 'start' | 'backlog' | 'live' = 'start';
  let backlogEnd = 0;

  async function next(): Promise<string | null> {
    if (phase === 'start') {
      after = unwrap(await source.ackEvents(deviceId, options.cursor ?? 0)).cursor;
      const page = unwrap(await source.readEvents(deviceId, after));
      const ready: InboxFrame = { type: 'inbox_ready', userId: options.userId, deviceId, ackedCursor: after, lastCursor: page.lastCursor };
      let text = `retry: ${SSE_RETRY_MS}\n\n${message(ready)}`;
      if (page.truncated) text += message(truncatedFrame(page, after));
      text += deliverMessages(page.events);
      after = page.events.at(-1)?.cursor ?? after;
      backlogEnd = page.lastCursor;
      phase = 'backlog';
      return text;
    }
    if (phase === 'backlog') {
      if (after < backlogEnd) {
        const page = unwrap(await source.readEvents(deviceId, after));
        const last = page.events.at(-1);
        if (last) {
          after = last.cursor;
          return deliverMessages(page.events);
        }
      }
      phase = 'live';
      return message({ type: 'caught_up', cursor: after });
    }
    const remaining = endsAt - now();
    if (remaining <= 0) return null;
    const page = unwrap(await source.waitForEvents(deviceId, after, Math.min(heartbeatMs, remaining)));
    if (page.events.length === 0 && !page.truncated) return SSE_HEARTBEAT;
    let text = page.truncated ? message(truncatedFrame(page, after)) : '';
    text += deliverMessages(page.events);
    after = page.events.at(-1)?.cursor ?? after;
    return text;
  }

  return pullStream(next, (err) => {
    // Refused (device_revoked): the SDK stops on that code rather than reconnecting.
    if (err instanceof AppError) return message({ type: 'error', code: err.code, message: err.message });
    // On a fault the client sees the stream end and reconnects with its Last-Event-ID; nothing is lost.
    log.error('inbox_stream_failed', { userId: options.userId, deviceId, reason: reason(err) });
    return message({ type: 'error', code: 'internal', message: 'The event stream failed; reconnect.' });
  });
}

/**
 * One long poll: acknowledges up to `cursor`, then answers at once if events are
 * waiting, else when one arrives or `timeoutMs` (at most INBOX.longPollMs) passes.
 * A refusal is thrown as its AppError (a revoked device: 401 `device_revoked`).
 */
export async function longPoll(source: EventSource, deviceId: string, cursor: number | null, timeoutMs: number): Promise<DeviceEventPage> {
  const after = unwrap(await source.ackEvents(deviceId, cursor ?? 0)).cursor;
  return unwrap(await source.waitForEvents(deviceId, after, Math.min(timeoutMs, INBOX.longPollMs)));
}
