/**
 * @module objects/alarm
 * One alarm per Durable Object serves every deadline the object has; this keeps it at the
 * earliest one asked for. The time last set is kept in memory so a busy object does not
 * write its alarm on every change; a fresh instance (after an eviction) reads the stored
 * alarm once first, so it never moves a due alarm later.
 */
export class AlarmClock {
  /** undefined: not known yet in this instance; null: none set. */
  #at: number | null | undefined = undefined;

  constructor(private readonly storage: DurableObjectStorage) {}

  /** Sets the alarm to `at` unless one is already due no later. */
  async arm(at: number): Promise<void> {
    if (this.#at === undefined) this.#at = await this.storage.getAlarm();
    if (this.#at !== null && this.#at <= at) return;
    this.#at = at;
    await this.storage.setAlarm(at);
  }

  /** Call first thing in `alarm()`: the alarm that fired is no longer set. */
  fired(): void {
    this.#at = null;
  }
}

/** The earliest of some deadlines (null: none). */
export function earliest(times: readonly (number | null)[]): number | null {
  let min: number | null = null;
  for (const t of times) if (t !== null && (min === null || t < min)) min = t;
  return min;
}
