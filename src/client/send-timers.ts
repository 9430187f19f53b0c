/**
 * @module client/send-timers
 * When a pending send goes out again: after its ack deadline if nothing answered it (a
 * wire can look healthy while one answer is lost), or after the wait a retryable refusal
 * asked for. Either way it is the same cmid, so the server stores it once.
 */
export class SendTimers {
  /** Per cmid on the wire: when it is sent again if nothing answers it. */
  readonly #deadlines = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #retries = new Set<ReturnType<typeof setTimeout>>();

  /** `resend(cmid)`: sends it again if it is still pending and the wire is up. */
  constructor(
    private readonly ackDeadlineMs: number,
    private readonly resend: (cmid: string) => void,
  ) {}

  /** The send went out: it is sent again unless answered within the deadline. */
  sent(cmid: string): void {
    this.answered(cmid);
    const timer = setTimeout(() => {
      this.#deadlines.delete(cmid);
      this.resend(cmid);
    }, this.ackDeadlineMs);
    this.#deadlines.set(cmid, timer);
  }

  /** An ack or an error answered it. */
  answered(cmid: string): void {
    const timer = this.#deadlines.get(cmid);
    if (timer !== undefined) clearTimeout(timer);
    this.#deadlines.delete(cmid);
  }

  /** A retryable refusal: send again after `waitMs`. */
  retryAfter(cmid: string, waitMs: number): void {
    const timer = setTimeout(() => {
      this.#retries.delete(timer);
      this.resend(cmid);
    }, waitMs);
    this.#retries.add(timer);
  }

  /** The conversation closed: nothing goes out again. */
  clear(): void {
    for (const timer of this.#retries) clearTimeout(timer);
    this.#retries.clear();
    for (const timer of this.#deadlines.values()) clearTimeout(timer);
    this.#deadlines.clear();
  }
}
