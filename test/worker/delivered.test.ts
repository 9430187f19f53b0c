/** Delivered receipts from a UserDO to its conversations: first at once, then coalesced per conversation. */
import { describe, expect, it } from 'vitest';
import { DeliveredReports } from '../../src/user/delivered.js';

/** A pause the test ends by hand, so no timing is involved. */
function manualPauses() {
  const waiting: (() => void)[] = [];
  return {
    pause: () => new Promise<void>((resolve) => waiting.push(resolve)),
    endOne: async () => {
      waiting.shift()?.();
      await new Promise((r) => setTimeout(r, 0));
    },
    get count() {
      return waiting.length;
    },
  };
}

describe('delivered reports', () => {
  it('the first goes at once; while one is in flight or pausing, later ones fold into the highest seq per conversation', async () => {
    const sent: [string, number][] = [];
    const pauses = manualPauses();
    const reports = new DeliveredReports(async (id, seq) => {
      sent.push([id, seq]);
    }, pauses.pause);
    const first = reports.report('a', 1);
    await new Promise((r) => setTimeout(r, 0));
    expect(sent).toEqual([['a', 1]]);
    // During the pause after it: three acks, and another conversation, which is not held back.
    const folded = [reports.report('a', 3), reports.report('a', 2), reports.report('a', 5)];
    void reports.report('b', 7);
    await new Promise((r) => setTimeout(r, 0));
    expect(sent).toEqual([['a', 1], ['b', 7]]);
    await pauses.endOne();
    expect(sent).toEqual([['a', 1], ['b', 7], ['a', 5]]);
    // Nothing more for 'a': after its pause the slot is free and the next report goes at once.
    await pauses.endOne();
    await pauses.endOne();
    await pauses.endOne();
    await Promise.all([first, ...folded]);
    void reports.report('a', 6);
    await new Promise((r) => setTimeout(r, 0));
    expect(sent.at(-1)).toEqual(['a', 6]);
  });

  it('a send that throws frees the conversation for the next report', async () => {
    const sent: number[] = [];
    let fail = true;
    const reports = new DeliveredReports(async (_id, seq) => {
      if (fail) throw new Error('conversation unreachable');
      sent.push(seq);
    }, async () => {});
    await expect(reports.report('a', 1)).rejects.toThrow(/unreachable/);
    fail = false;
    await reports.report('a', 2);
    expect(sent).toEqual([2]);
  });
});
