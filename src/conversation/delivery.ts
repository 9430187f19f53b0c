/**
 * @module conversation/delivery
 * Getting accepted work to members' UserDOs: the durable outbox (membership changes, read
 * positions, hides) and the fan-out of events (./fanout.ts), each member's events
 * rendered for them (./visibility.ts). An alarm is set first, in the same synchronous turn
 * as the write that made the work, so work left by an eviction or a failed call is
 * finished later; one drain at a time, and a drain never rejects: failures are retried
 * from the alarm.
 */
import type { Env } from '../env.js';
import { log, reason, trace } from '../log.js';
import { record } from '../metrics.js';
import * as fanout from './fanout.js';
import * as eventLog from './log.js';
import { member, memberCount, memberIds, memberPage } from './members.js';
import { loadMeta } from './meta.js';
import * as outbox from './outbox.js';
import * as search from './search.js';
import type { ConversationStore } from './store.js';
import { storedViews } from './visibility.js';
import type { Wakeups } from './wake.js';
import { earliest } from '../objects/alarm.js';

export const DELIVERY = {
  /**
   * The alarm a drain arms first, for the work it starts, is set this far ahead (a failed
   * call sets an earlier deadline of its own). It fires only to find its work done, unless
   * the object died mid-drain (a crash, a deploy): then members' inboxes get the rest up to
   * this much later; the chat windows had it at once. A busy conversation wakes once per
   * interval: at 1 s, 50 conversations at 4 msg/s spent a tenth of their CPU on alarms
   * that found nothing to do (an invocation costs ~1.5 ms locally; docs/BENCHMARKS.md).
   */
  safetyAlarmMs: 5_000,
} as const;

export class Delivery {
  #draining: Promise<void> | null = null;
  /** Set by every kick; a drain under way looks again before it ends, so no kick is lost to one that was finishing. */
  #again = false;
  readonly #passes = fanout.newPassMemory();
  /** The timer for members left behind (`wakeForBehind`), and when it fires. */
  #timer: ReturnType<typeof setTimeout> | null = null;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly store: ConversationStore,
    private readonly env: Env,
    private readonly ctx: DurableObjectState,
    private readonly tuning: fanout.FanoutTuning,
    private readonly wakeups: Wakeups,
    /** Whether a member has a chat window open here (./windows.ts). */
    private readonly watching: (userId: string) => boolean,
  ) {}

  /** Starts delivering what is due (or joins the drain under way). Never rejects. */
  kick(): Promise<void> {
    this.#again = true;
    this.#draining ??= this.drainWhileKicked()
      .catch((err) => log.error('delivery_failed', { conversationId: loadMeta(this.store)?.id, reason: reason(err) }))
      .finally(() => {
        this.#draining = null;
      });
    return this.#draining;
  }

  /**
   * When the alarm must fire for delivery, or null: when the outbox or a fan-out pass is
   * due; for members left behind, a safety interval after they are due (their timer,
   * `wakeForBehind`, comes first unless the object was evicted).
   */
  dueAt(): number | null {
    const onWrite = memberCount(this.store) <= this.tuning.maxMembersOnWrite;
    const behind = fanout.behindDue(this.#passes);
    return earliest([
      outbox.nextDue(this.store),
      fanout.nextDue(this.store, this.#passes, onWrite ? memberIds(this.store) : null, Date.now()),
      behind === null ? null : behind + DELIVERY.safetyAlarmMs,
    ]);
  }

  /** Writes the fan-out watermark passes moved in memory: call from a turn that writes anyway (a send, the alarm). */
  persistWatermark(): void {
    fanout.persistWatermark(this.store, this.#passes);
  }

  /** Indexes for search everything sent since the last time, in one write. */
  indexAll(): void {
    this.store.transaction(() => search.catchUp(this.store, eventLog.lastSeq(this.store)));
  }

  private async drainWhileKicked(): Promise<void> {
    while (this.#again) {
      this.#again = false;
      await this.drain();
    }
  }

  /**
   * Delivers what is due now, then arms the alarm for the deadlines left. The alarm armed
   * for the work stays (moving it later is a write of its own); it then finds nothing to do.
   */
  private async drain(): Promise<void> {
    const due = earliest([this.dueAt(), fanout.behindDue(this.#passes)]);
    if (due !== null && due <= Date.now()) await this.deliverDue();
    this.wakeForBehind();
    await this.wakeups.schedule();
  }

  /**
   * Members left behind (watching: FanoutTuning.watchingIntervalMs) are due about once a
   * second in a busy conversation: an alarm for each would cost a write to set it and an
   * invocation to run it. A timer in memory wakes for them instead; an eviction loses it
   * with the memory of who was behind, and the alarm (`dueAt`) resends from the stored
   * watermark, which waits for them.
   */
  private wakeForBehind(): void {
    const at = fanout.behindDue(this.#passes);
    if (at === null || at >= this.#timerAt) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Number.POSITIVE_INFINITY;
      void this.kick();
    }, Math.max(0, at - Date.now()));
  }

  private async deliverDue(): Promise<void> {
    // The alarm is set in this turn, with the write that made the work; the calls start
    // once that write is durable (and, under wrangler dev, a moment later: see
    // FanoutTuning.settleMs), so the deliveries its output gate released go first.
    await Promise.all([this.wakeups.clock.arm(Date.now() + DELIVERY.safetyAlarmMs), this.ctx.storage.sync()]);
    if (this.tuning.settleMs > 0) await scheduler.wait(this.tuning.settleMs);
    for (;;) {
      const items = outbox.due(this.store, Date.now());
      if (items.length === 0) break;
      await Promise.all([...outbox.byUser(items)].map(([userId, list]) => this.deliverTo(userId, list)));
    }
    const meta = loadMeta(this.store);
    if (meta) {
      await fanout.drain({
        store: this.store,
        conversationId: meta.id,
        kind: meta.kind,
        memberCount: () => memberCount(this.store),
        members: () => memberIds(this.store),
        memberPage: (after, limit) => memberPage(this.store, after, limit),
        isMember: (userId) => member(this.store, userId) !== null,
        watching: this.watching,
        tuning: this.tuning,
        memory: this.#passes,
        viewsOf: (events) => storedViews(this.store, events),
        deliver: (userId, update) => this.env.USERS.getByName(userId).apply([update], trace()),
        record: (metric) => record(this.env, metric),
      });
    }
    // The rest of the drain's last turn: its writes share the pass's commit.
    this.indexBatch();
    record(this.env, { kind: 'queue', queue: 'conversation_outbox', depth: outbox.depth(this.store) });
    record(this.env, { kind: 'queue', queue: 'fanout_lag', depth: fanout.laggingCount(this.store) });
  }

  /** From a drain pass: indexes once a batch has built up (a search indexes the rest first). */
  private indexBatch(): void {
    if (eventLog.lastSeq(this.store) - search.indexedUpTo(this.store) >= search.SEARCH_INDEX.batch) this.indexAll();
  }

  private async deliverTo(userId: string, items: outbox.OutboxItem[]): Promise<void> {
    const ids = items.map((i) => i.id);
    try {
      await this.env.USERS.getByName(userId).apply(items.map((i) => i.update), trace());
      outbox.remove(this.store, ids);
    } catch (err) {
      const attempts = Math.max(...items.map((i) => i.attempts));
      outbox.postpone(this.store, ids, attempts, Date.now());
      log.warn('outbox_delivery_failed', { userId, attempts, reason: reason(err) });
    }
  }
}
