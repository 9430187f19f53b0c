/**
 * @module user/delivered
 * Delivered receipts from a UserDO to its conversations, coalesced. Each device ack can
 * move the user's delivered watermark in a conversation, and a busy conversation's
 * members ack every fan-out pass: one call per member per pass went back into the
 * conversation that was also taking the sends. The first report for a conversation goes
 * at once (a lone message shows "delivered" without delay); while one is in flight and
 * for `DELIVERED_REPORTS.intervalMs` after, later ones are folded into the highest seq
 * and sent together. The watermark is monotonic at the conversation, so a report lost
 * (an eviction, a failed call) is made good by the next one there.
 */

export const DELIVERED_REPORTS = {
  /** At most one delivered report per conversation per interval, after the first. */
  intervalMs: 1_000,
} as const;

export type SendReport = (conversationId: string, seq: number) => Promise<void>;

interface Slot {
  /** Highest seq waiting to be reported, or 0. */
  pending: number;
  /** The report in flight, or the pause after it; null when a new report may go at once. */
  busy: Promise<void> | null;
}

export class DeliveredReports {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly send: SendReport,
    private readonly pause: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /** Reports `seq` for the conversation; resolves when it (or a later report carrying it) was sent. */
  report(conversationId: string, seq: number): Promise<void> {
    const slot = this.slots.get(conversationId) ?? { pending: 0, busy: null };
    this.slots.set(conversationId, slot);
    slot.pending = Math.max(slot.pending, seq);
    slot.busy ??= this.drain(conversationId, slot);
    return slot.busy;
  }

  /** `send` is expected to log its own failures; one that throws still frees the slot for the next report. */
  private async drain(conversationId: string, slot: Slot): Promise<void> {
    try {
      while (slot.pending > 0) {
        const seq = slot.pending;
        slot.pending = 0;
        await this.send(conversationId, seq);
        await this.pause(DELIVERED_REPORTS.intervalMs);
      }
    } finally {
      slot.busy = null;
      this.slots.delete(conversationId);
    }
  }
}
