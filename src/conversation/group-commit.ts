/**
 * @module conversation/group-commit
 * Group commit for a busy conversation. Every write a Durable Object makes in one turn
 * goes into one implicit transaction, committed (and synced to disk) once the turn ends,
 * and the output gate holds what the turn sent until then. A send that is its own turn
 * therefore pays a whole commit: on the machines the bench ran on, about as much as the
 * rest of the send (docs/BENCHMARKS.md).
 *
 * Under load, a frame (a send, and whatever else a chat window sends; or a send over
 * HTTP) waits for the next timer tick, together with every frame that arrives
 * meanwhile, from any socket or request;
 * they are then handled one after another, in arrival order, in one turn: one commit
 * for all their writes, and the acks released together when it lands. After a quiet
 * spell a frame goes at once, so a conversation at human rates waits for nothing. Each
 * send is still accepted synchronously (seq, checks, insert), so nothing interleaves
 * inside one; the ack still follows the durable write. Frames wait here before they
 * join their socket's queue (`ConversationDO.webSocketMessage`): a socket's frames are
 * handled one after another, so a wait inside one's handling would let only one frame
 * per socket into a group.
 */

export const GROUP_COMMIT = {
  /** A frame within this long of the previous one waits to share a commit; a later one goes at once. */
  quietMs: 2,
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
