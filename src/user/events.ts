/**
 * @module user/events
 * The device event stream as the UserDO serves it to every wire (inbox socket, SSE, long
 * polling): reads, held reads and acks, each refused for a device that is not signed in.
 * The check and the read are one synchronous transaction, and a held read checks again
 * when it wakes, so nothing reaches a device after its revocation; a refused device's
 * queue cursor is never made again (that would hold events back for nobody).
 *
 * Results, not throws: an error thrown across RPC loses its class.
 */
import { type DeviceEventPage, type InboxFrame } from '../protocol/index.js';
import { INBOX } from '../limits.js';
import { fail, ok, type Result } from '../errors.js';
import { Waiters } from '../objects/waiters.js';
import * as queues from './queues.js';
import * as inbox from './inbox.js';
import type { Devices } from './devices.js';
import type { UserStore } from './store.js';

export const REVOKED = 'This device has been signed out; log in again.';

/** What the first frames of an inbox socket need: where the device is, and whether it missed events. */
export interface Backlog {
  acked: number;
  truncated: boolean;
}

export class EventStream {
  /** Held reads (long polls, live SSE reads), per device. */
  readonly #waiters = new Waiters<string>();
  /**
   * Devices reading over HTTP, with when they were last seen doing so (for presence). In
   * memory: a held read keeps the object alive, and a client between polls that outlives
   * an eviction is seen again at its next poll.
   */
  readonly #httpReaders = new Map<string, number>();

  constructor(
    private readonly store: UserStore,
    private readonly devices: Devices,
  ) {}

  /** The device's events after `after` (and after what it acknowledged), in order; refused unless it is signed in. */
  read(deviceId: string, after: number, limit: number = INBOX.maxEventsPerRead, now = Date.now()): Result<DeviceEventPage> {
    return this.store.transaction(() => {
      if (!this.devices.isActive(deviceId)) return fail('device_revoked', REVOKED);
      queues.registerDevice(this.store.sql, deviceId, now);
      queues.trimExpired(this.store.sql, now);
      return ok(queues.read(this.store.sql, { userId: this.store.userId, deviceId }, after, limit));
    });
  }

  /**
   * Like `read`, but when nothing is waiting holds until something arrives, the device is
   * revoked, or `timeoutMs` (at most INBOX.longPollMs) passes; then reads again.
   */
  async wait(deviceId: string, after: number, timeoutMs: number): Promise<Result<DeviceEventPage>> {
    const first = this.read(deviceId, after);
    if (!first.ok || first.value.events.length > 0 || first.value.truncated) return first;
    this.#httpReaders.set(deviceId, Date.now());
    try {
      await this.#waiters.wait(deviceId, Math.max(0, Math.min(timeoutMs, INBOX.longPollMs)));
    } finally {
      if (this.devices.isActive(deviceId)) this.#httpReaders.set(deviceId, Date.now());
    }
    // Checked again: the wait is an await, and a revocation ends it.
    return this.read(deviceId, after);
  }

  /** The device has everything up to `cursor`; returns its cursor now and, per conversation, the seqs that first reached the user. */
  ack(deviceId: string, cursor: number): Result<{ cursor: number; delivered: [string, number][] }> {
    return this.store.transaction(() => {
      if (!this.devices.isActive(deviceId)) return fail('device_revoked', REVOKED);
      queues.registerDevice(this.store.sql, deviceId, Date.now());
      const acked = queues.ack(this.store.sql, deviceId, cursor);
      const delivered: [string, number][] = [];
      for (const [conversationId, seq] of acked.reached) {
        if (inbox.recordDelivered(this.store.sql, conversationId, seq) !== null) delivered.push([conversationId, seq]);
      }
      return ok({ cursor: acked.cursor, delivered });
    });
  }

  /** Where an inbox socket's backlog starts; a device told it missed events is moved past them. */
  backlogStart(deviceId: string, now: number): Result<Backlog> {
    return this.store.transaction(() => {
      if (!this.devices.isActive(deviceId)) return fail('device_revoked', REVOKED);
      const sql = this.store.sql;
      queues.registerDevice(sql, deviceId, now);
      queues.trimExpired(sql, now);
      const truncated = queues.isTruncated(sql, deviceId);
      return ok({ acked: truncated ? queues.skipDropped(sql, deviceId) : queues.ackedCursor(sql, deviceId), truncated });
    });
  }

  /** The frames of an inbox socket's start: `inbox_ready`, maybe `queue_truncated`, the backlog, `caught_up`. Synchronous, so no live event interleaves. */
  backlogFrames(deviceId: string, start: Backlog): InboxFrame[] {
    const sql = this.store.sql;
    const frames: InboxFrame[] = [{ type: 'inbox_ready', userId: this.store.userId, deviceId, ackedCursor: start.acked, lastCursor: queues.lastCursor(sql) }];
    if (start.truncated) {
      frames.push({ type: 'queue_truncated', resumeCursor: start.acked, message: "Some events were dropped while this device was away; catch up from each conversation's history." });
    }
    let after = start.acked;
    for (;;) {
      const page = queues.read(sql, { userId: this.store.userId, deviceId }, after);
      const last = page.events.at(-1);
      if (!last) break;
      frames.push({ type: 'deliver', events: page.events });
      after = last.cursor;
    }
    frames.push({ type: 'caught_up', cursor: after });
    return frames;
  }

  /** New events: every held read wakes and reads; returns how many were held. */
  wakeAll(): number {
    const held = this.#waiters.size;
    this.#waiters.wake();
    return held;
  }

  /** New events for one device alone: its held reads wake and read. */
  wakeDevice(deviceId: string): void {
    this.#waiters.wake(deviceId);
  }

  /** The device was revoked: its cursor goes (its queue stops holding events back), its held reads end now and refuse. */
  revoke(deviceId: string): void {
    this.store.transaction(() => queues.forgetDevice(this.store.sql, deviceId));
    this.#httpReaders.delete(deviceId);
    this.#waiters.wake(deviceId);
  }

  /** Whether the device reads over HTTP for the first time since it was last counted (presence then changes). */
  seen(deviceId: string, now: number): boolean {
    const known = this.#httpReaders.has(deviceId);
    this.#httpReaders.set(deviceId, now);
    return !known;
  }

  /** Forgets HTTP readers not seen for longer than `staleAfterMs` with nothing held; true while any remain. */
  pruneReaders(now: number, isStale: (seenAt: number, now: number) => boolean): boolean {
    for (const [deviceId, seen] of this.#httpReaders) {
      if (!this.#waiters.has(deviceId) && isStale(seen, now)) this.#httpReaders.delete(deviceId);
    }
    return this.#httpReaders.size > 0;
  }

  get hasHttpReaders(): boolean {
    return this.#httpReaders.size > 0;
  }
}
