/**
 * @module conversation/wake
 * When the conversation must wake next: one alarm serves every deadline (delivery and its
 * retries, the receipts flush, moderation purges, the presence subscription's renewal,
 * and the relays). Each source says when it is next due; the alarm is kept at the
 * earliest. A finished drain leaves its alarm in place rather than deleting it (one write
 * fewer per burst); it then finds nothing to do.
 */
import { AlarmClock, earliest } from '../objects/alarm.js';

export class Wakeups {
  readonly clock: AlarmClock;

  constructor(
    storage: DurableObjectStorage,
    /** Every deadline the object has now (null: none from that source). */
    private readonly deadlines: () => (number | null)[],
  ) {
    this.clock = new AlarmClock(storage);
  }

  /** Sets the alarm for the earliest deadline, if any. */
  async schedule(): Promise<void> {
    const next = earliest(this.deadlines());
    if (next !== null) await this.clock.arm(next);
  }
}
