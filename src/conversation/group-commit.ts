/**
 * @module conversation/group-commit
 * Group commit for an active conversation. Every write a Durable Object makes in one turn
 * goes into one implicit transaction, committed (and synced to disk) once the turn ends,
 * and the output gate holds what the turn sent until then. A send that is its own turn
 * therefore pays a whole commit: on the machines the bench ran on, about as much as the
 * rest of the send (docs/BENCHMARKS.md).
 *
 * In an active conversation (a frame within `GROUP_COMMIT.activeMs` of the one before)
 * while the runtime is behind, and in any burst (frames within `burstMs`), a frame (a
 * send, and whatever else a chat window sends; or a send over HTTP) waits for the next
 * timer tick, together with every frame that arrives meanwhile, from any socket or
 * request; they are then handled one after another, in arrival order, in one turn: one
 * commit for all their writes, and the acks released together when it lands. The wait is
 * one tick: when the runtime is behind, the frames that queued meanwhile join the group,
 * so the busier it is the more each commit carries. Whether it is behind, the ticks say:
 * one that fires late, or that more than one frame joined, and it has caught up once
 * `probeEvery` ticks in a row did neither. While it is not behind, frames go at once, and
 * one in `probeEvery` waits to look again. After a quiet spell a frame goes at
 * once. Each send is still accepted synchronously (seq, checks, insert), so nothing
 * interleaves inside one; the ack still follows the durable write. Frames wait here before
 * they join their socket's queue (`ConversationDO.webSocketMessage`): a socket's frames are
 * handled one after another, so a wait inside one's handling would let only one frame per
 * socket into a group.
 */

export const GROUP_COMMIT = {
  /** Frames this close together always wait a tick: one conversation's burst. */
  burstMs: 2,
  /**
   * Frames within this long of the previous one wait a tick while the runtime is behind.
   * A conversation's frames come far apart when the runtime serves many objects, even
   * while each has a backlog: grouping only bursts, 50 direct conversations at their
   * fastest never grouped (1 commit a message: 0.78x the SQLite baseline's messages/s);
   * grouping within 100 ms they share a commit ~5 frames at a time (2.3x), and 50 groups
   * of 10 went from 0.59x to 1.2x (docs/BENCHMARKS.md). The trade (a tick for a shared
   * commit) holds on any platform: on Cloudflare a commit is a replicated write the
   * output gate waits for.
   */
  activeMs: 100,
  /**
   * A tick that fires this late says the runtime is behind (so does a group of more than
   * one). The clock counts whole milliseconds, so a prompt tick that crosses one reads 1
   * (a tenth of them at 100 msg/s on an idle runtime); behind, ticks read 3 ms and more.
   */
  lateMs: 2,
  /**
   * While the runtime is not behind, one frame in this many of an active conversation
   * waits, to find out whether it is now. The others go at once: a tick a frame is pure
   * cost on an idle runtime. At a steady 100 msg/s (three rounds each, noise about ±0.1):
   * p50 send→ack 1.07x the baseline's with no tick, 1.22x with one every frame, 1.18x
   * probing; CPU per message 1.21x, 1.49x, 1.44x.
   */
  probeEvery: 8,
} as const;

export class GroupCommit {
  #waiting: Promise<void> | null = null;
  /** Frames in the group waiting now. */
  #joined = 0;
  #lastAt = Number.NEGATIVE_INFINITY;
  /** What the last tick said: the runtime is behind. */
  #behind = false;
  /** Frames gone at once since the last wait (`GROUP_COMMIT.probeEvery`). */
  #sinceWait = 0;
  /** Ticks in a row, while behind, that fired on time with one frame. */
  #calm = 0;

  constructor(private readonly clock: () => number = () => Date.now()) {}

  /**
   * Null when the frame arriving now may go now; else a promise that resolves, for every
   * frame that joined it, in the same timer tick and in the order they joined.
   */
  join(): Promise<void> | null {
    const now = this.clock();
    const gap = now - this.#lastAt;
    this.#lastAt = now;
    if (this.#waiting) {
      this.#joined += 1;
      return this.#waiting;
    }
    // A quiet spell here says nothing of the runtime: what the ticks said stands.
    if (gap >= GROUP_COMMIT.activeMs) return null;
    const wait = gap < GROUP_COMMIT.burstMs || this.#behind || ++this.#sinceWait >= GROUP_COMMIT.probeEvery;
    return wait ? this.#tick() : null;
  }

  #tick(): Promise<void> {
    const startedAt = this.clock();
    this.#joined = 1;
    this.#sinceWait = 0;
    this.#waiting = new Promise((resolve) => {
      setTimeout(() => {
        this.#heard(this.#joined > 1 || this.clock() - startedAt >= GROUP_COMMIT.lateMs);
        this.#waiting = null;
        resolve();
      }, 0);
    });
    return this.#waiting;
  }

  /** A tick found the runtime behind, or not: behind at once, caught up after `probeEvery` ticks in a row say so. */
  #heard(late: boolean): void {
    if (late) {
      this.#behind = true;
      this.#calm = 0;
    } else if (this.#behind && ++this.#calm >= GROUP_COMMIT.probeEvery) {
      this.#behind = false;
      this.#calm = 0;
    }
  }
}
