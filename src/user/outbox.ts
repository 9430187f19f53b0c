/**
 * @module user/outbox
 * Calls from the user to their conversations that must not be lost: the user's block list
 * (`setBlocks`, after every change and on every join), a revoked device's chat windows
 * and feeds (`closeDevice`), and a change of the user's device list with keys
 * (`noteDevicesChanged`, to the user's encrypted conversations only: each logs a
 * `devices_changed` event; a plain one would ignore it). Each is a row first, so an eviction or a failed call is
 * finished later by the alarm, with backoff; a row goes only once its call succeeded.
 *
 * Block lists are sent whole (the conversation replaces the member's list), and the
 * outbox is drained by one pass at a time, so an older list can never land after a newer
 * one: a row re-queued by a change during a pass carries a higher version and stays for
 * the next pass.
 */
import type { Env } from '../env.js';
import { log, reason } from '../log.js';
import * as blocks from './blocks.js';
import * as state from './state.js';
import type { UserStore } from './store.js';
import { conversationStub } from '../placement.js';

export const OUTBOX = {
  /** Calls in flight at once during a pass. */
  concurrency: 16,
  /** The first retry waits this long, doubling per failure up to `maxRetryMs`. */
  retryBaseMs: 1_000,
  maxRetryMs: 10 * 60_000,
} as const;

type Kind = 'blocks' | 'close_device' | 'devices_changed';

interface Row {
  conversation_id: string;
  kind: Kind;
  device_id: string;
  version: number;
  attempts: number;
  [key: string]: SqlStorageValue;
}

export class ConversationOutbox {
  #pass: Promise<void> | null = null;
  #again = false;

  constructor(
    private readonly store: UserStore,
    private readonly env: Env,
    /** Wake the object at `at` for the next retry. */
    private readonly wakeAt: (at: number) => Promise<void>,
  ) {}

  /** The block list changed: every conversation named gets the whole new list. Call inside the change's transaction. */
  queueBlocks(conversationIds: Iterable<string>, now: number): void {
    const version = state.get(this.store.sql, 'blocks_version') + 1;
    state.set(this.store.sql, 'blocks_version', version);
    for (const id of new Set(conversationIds)) this.queue(id, 'blocks', '', version, now);
  }

  /**
   * The user joined a conversation: it gets the block list as it is (a change made while
   * the join was in flight would otherwise miss it). A user whose list never changed has
   * nothing to pass on, so most joins cost no call. Returns whether a call was queued.
   */
  queueJoined(conversationId: string, now: number): boolean {
    const version = state.get(this.store.sql, 'blocks_version');
    if (version === 0) return false;
    this.queue(conversationId, 'blocks', '', version, now);
    return true;
  }

  /** A device was revoked: each conversation closes its windows and feeds. */
  queueCloseDevice(conversationIds: Iterable<string>, deviceId: string, now: number): void {
    for (const id of new Set(conversationIds)) this.queue(id, 'close_device', deviceId, 0, now);
  }

  /**
   * The user's device list changed (`deviceId` added its keys, or was revoked) and is now at
   * `version`: each conversation is told. A later change of the same device before the call
   * landed raises the row's version, so one call carries the latest.
   */
  queueDevicesChanged(conversationIds: Iterable<string>, deviceId: string, version: number, now: number): void {
    for (const id of new Set(conversationIds)) this.queue(id, 'devices_changed', deviceId, version, now);
  }

  /** When the next retry is due, or null. */
  nextDueAt(): number | null {
    return this.store.sql.exec<{ at: number | null }>('SELECT min(due_at) AS at FROM outbox').one().at;
  }

  /** Sends what is due (one pass at a time; a call during a pass makes it run once more) and resolves when done. */
  async drain(): Promise<void> {
    if (this.#pass) {
      this.#again = true;
      return this.#pass;
    }
    this.#pass = (async () => {
      try {
        do {
          this.#again = false;
          await this.pass(Date.now());
        } while (this.#again);
      } finally {
        this.#pass = null;
      }
    })();
    return this.#pass;
  }

  private queue(conversationId: string, kind: Kind, deviceId: string, version: number, now: number): void {
    this.store.sql.exec(
      `INSERT INTO outbox (conversation_id, kind, device_id, version, attempts, due_at) VALUES (?, ?, ?, ?, 0, ?)
       ON CONFLICT (conversation_id, kind, device_id) DO UPDATE SET version = max(version, excluded.version), attempts = 0, due_at = excluded.due_at`,
      conversationId,
      kind,
      deviceId,
      version,
      now,
    );
  }

  private async pass(now: number): Promise<void> {
    const sql = this.store.sql;
    const due = sql.exec<Row>('SELECT conversation_id, kind, device_id, version, attempts FROM outbox WHERE due_at <= ? ORDER BY due_at', now).toArray();
    if (due.length === 0) return;
    // The list as it is now: newer than (or equal to) what every due row asked for.
    const list = blocks.list(sql).map((b) => b.userId);
    const version = state.get(sql, 'blocks_version');
    let next = 0;
    const worker = async () => {
      for (let row = due[next++]; row; row = due[next++]) await this.send(row, list, version);
    };
    await Promise.all(Array.from({ length: Math.min(OUTBOX.concurrency, due.length) }, worker));
    const at = this.nextDueAt();
    if (at !== null) await this.wakeAt(at);
  }

  private async send(row: Row, list: string[], version: number): Promise<void> {
    const { userId } = this.store;
    const conversation = conversationStub(this.env, row.conversation_id);
    try {
      if (row.kind === 'blocks') await conversation.setBlocks(userId, list);
      else if (row.kind === 'close_device') await conversation.closeDevice(userId, row.device_id);
      else await conversation.noteDevicesChanged(userId, row.device_id, row.version);
      // Gone only if nothing newer was queued meanwhile.
      this.store.sql.exec(
        'DELETE FROM outbox WHERE conversation_id = ? AND kind = ? AND device_id = ? AND version <= ?',
        row.conversation_id,
        row.kind,
        row.device_id,
        row.kind === 'blocks' ? version : row.version,
      );
    } catch (err) {
      const attempts = row.attempts + 1;
      const retryAt = Date.now() + Math.min(OUTBOX.retryBaseMs * 2 ** (attempts - 1), OUTBOX.maxRetryMs);
      this.store.sql.exec(
        'UPDATE outbox SET attempts = ?, due_at = ? WHERE conversation_id = ? AND kind = ? AND device_id = ? AND version <= ?',
        attempts,
        retryAt,
        row.conversation_id,
        row.kind,
        row.device_id,
        row.kind === 'blocks' ? version : row.version,
      );
      log.warn('conversation_call_failed', { userId, conversationId: row.conversation_id, call: row.kind, attempts, reason: reason(err) });
    }
  }
}
