/**
 * @module conversation/group-commit
 * Group commit for an active conversation. Every write a Durable Object makes in one turn
 * goes into one implicit transaction, committed (and synced to disk) once the turn ends,
 * and the output gate holds what the turn sent until then. A send that is its own turn
 * therefore pays a whole commit: on the machines the bench ran on, about as much as the
 * rest of the send (docs/BENCHMARKS.md).
 *
 * In an active conversation (a frame within `GROUP_COMMIT.quietMs` of the one before), a
 * frame (a send, and whatever else a chat window sends; or a send over HTTP) waits for the
 * next timer tick, together with every frame that arrives meanwhile, from any socket or
 * request; they are then handled one after another, in arrival order, in one turn: one
 * commit for all their writes, and the acks released together when it lands. The wait is
 * one tick, not `quietMs`: when the runtime has nothing else to do the tick comes at
 * once, and when it is behind, the frames that queued meanwhile join the group, so the
 * busier it is the more each commit carries. After a quiet spell a frame goes at once.
 * Each send is still accepted synchronously (seq, checks, insert), so nothing interleaves
 * inside one; the ack still follows the durable write. Frames wait here before they join
 * their socket's queue (`ConversationDO.webSocketMessage`): a socket's frames are handled
 * one after another, so a wait inside one's handling would let only one frame per socket
 * into a group.
 */

export const GROUP_COMMIT = {
  /**
   * A frame within this long of the previous one waits a tick to share a commit; a later
   * one goes at once. A conversation's frames come far apart when the runtime serves many
   * objects, even while each has a backlog: at 2 ms, 50 direct conversations at their
   * fastest never grouped (1 commit a message, 0.78x the SQLite baseline's messages/s);
   * at 100 ms they share a commit ~5 frames at a time (2.3x), and 50 groups of 10 went
   * from 0.59x to 1.2x. At steady rates the tick costs nothing measurable (1:1 at
   * 100 msg/s: p50 and CPU per message within noise; docs/BENCHMARKS.md). The trade (a
   * tick for a shared commit) holds on any platform: on Cloudflare a commit is a
   * replicated write the output gate waits for.
   */
  quietMs: 100,
} as const;

export class GroupCommit {
  private waiting: Promise<void> | null = null;
  private lastAt = Number.NEGATIVE_INFINITY;

  /**
   * Null when the frame may go now; else a promise that resolves, for every frame that
   * joined it, in the same timer tick and in the order they joined.
   */
  join(now: number): Promise<void> | null {
    const busy = this.waiting !== null || now - this.lastAt < GROUP_COMMIT.quietMs;
    this.lastAt = now;
    if (!busy) return null;
    this.waiting ??= new Promise((resolve) => {
      setTimeout(() => {
        this.waiting = null;
        resolve();
      }, 0);
    });
    return this.waiting;
  }
}
