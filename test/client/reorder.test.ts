import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConversationEvent } from '../../src/protocol/index.js';
import { GAP_FILL_DELAY_MS, MAX_BUFFERED_EVENTS, ReorderBuffer } from '../../src/client/reorder.js';

const RUNS = { numRuns: 300 };

function message(seq: number): ConversationEvent {
  return {
    seq,
    ts: 1_700_000_000_000 + seq,
    author: { userId: 'u_alice', deviceId: 'd_phone' },
    type: 'message',
    cmid: `cmid${String(seq).padStart(8, '0')}`,
    content: { type: 'text', text: `message ${seq}` },
  };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

const seqsOf = (events: ConversationEvent[]) => events.map((e) => e.seq);

/** A clock the test moves by hand. */
function manualClock(start = 1_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/**
 * What a history fetch returns for `missing()`: events in `(after, before)`, ascending,
 * at most `limit` of them (pages are bounded on the real server too).
 */
function fetchPage(all: ConversationEvent[], gap: { after: number; before: number }, limit: number) {
  return all.filter((e) => e.seq > gap.after && e.seq < gap.before).slice(0, limit);
}

describe('ReorderBuffer', () => {
  it('builds events the protocol accepts', () => {
    expect(ConversationEvent.safeParse(message(1)).success).toBe(true);
  });

  it('delivers in-order events at once and holds back the rest', () => {
    const buffer = new ReorderBuffer();
    expect(seqsOf(buffer.push([message(1), message(2)]))).toEqual([1, 2]);
    expect(buffer.push([message(4), message(5)])).toEqual([]);
    expect(buffer.missing()).toEqual({ after: 2, before: 4 });
    expect(seqsOf(buffer.push([message(3)]))).toEqual([3, 4, 5]);
    expect(buffer.missing()).toBeNull();
    expect(buffer.lastDelivered).toBe(5);
  });

  it('drops duplicates and events at or below the resume point', () => {
    const buffer = new ReorderBuffer(10);
    expect(buffer.push([message(9), message(10)])).toEqual([]);
    expect(buffer.push([message(12), message(12)])).toEqual([]);
    expect(buffer.buffered).toBe(1);
    expect(seqsOf(buffer.push([message(11), message(12), message(11)]))).toEqual([11, 12]);
  });

  it('reports a lost tail once the server announces its last seq', () => {
    const buffer = new ReorderBuffer(3);
    expect(buffer.missing()).toBeNull();
    buffer.noteLastSeq(7);
    expect(buffer.missing()).toEqual({ after: 3, before: 8 });
    buffer.noteLastSeq(2); // stale announcements change nothing
    expect(buffer.missing()).toEqual({ after: 3, before: 8 });
  });

  it('dates a gap from when it appeared, and restarts the clock on progress', () => {
    const clock = manualClock();
    const buffer = new ReorderBuffer(0, { now: clock.now });
    expect(buffer.gapSince()).toBeNull();

    buffer.push([message(3), message(5)]);
    const opened = clock.now();
    expect(buffer.gapSince()).toBe(opened);

    clock.advance(GAP_FILL_DELAY_MS);
    buffer.push([message(6)]); // no progress: still the same gap
    expect(buffer.gapSince()).toBe(opened);

    clock.advance(100);
    buffer.push([message(1), message(2)]); // delivers 1..3; the gap at 4 remains
    expect(buffer.gapSince()).toBe(opened + GAP_FILL_DELAY_MS + 100);
    expect(buffer.missing()).toEqual({ after: 3, before: 5 });

    buffer.push([message(4)]);
    expect(buffer.gapSince()).toBeNull();
  });

  it('resets to a new resume point', () => {
    const buffer = new ReorderBuffer(0, { now: () => 5 });
    buffer.push([message(3)]);
    buffer.reset(40);
    expect([buffer.lastDelivered, buffer.buffered, buffer.missing(), buffer.gapSince()]).toEqual([40, 0, null, null]);
    expect(seqsOf(buffer.push([message(3), message(41)]))).toEqual([41]);
  });

  it('keeps the lowest seqs when full and still reports the dropped ones', () => {
    const buffer = new ReorderBuffer(0, { maxBuffered: 3 });
    buffer.push([10, 9, 8, 7, 6, 5].map(message));
    expect(buffer.buffered).toBe(3);
    expect(buffer.missing()).toEqual({ after: 0, before: 5 });
    expect(seqsOf(buffer.push(range(1, 4).map(message)))).toEqual(range(1, 7));
    expect(buffer.missing()).toEqual({ after: 7, before: 11 });
    expect(seqsOf(buffer.push(range(8, 10).map(message)))).toEqual([8, 9, 10]);
    expect(buffer.missing()).toBeNull();
  });

  it('is bounded by MAX_BUFFERED_EVENTS by default', () => {
    const buffer = new ReorderBuffer();
    buffer.push(range(2, MAX_BUFFERED_EVENTS + 100).map(message));
    expect(buffer.buffered).toBe(MAX_BUFFERED_EVENTS);
    expect(seqsOf(buffer.push([message(1)])).length).toBe(MAX_BUFFERED_EVENTS + 1);
    expect(buffer.missing()).toEqual({ after: MAX_BUFFERED_EVENTS + 1, before: MAX_BUFFERED_EVENTS + 101 });
  });

  /**
   * The stream as the network might hand it over: every seq of start+1..start+n appears
   * 0 (lost), 1 or several times, in any order, cut into frames of any size.
   */
  const stream = fc
    .record({
      start: fc.integer({ min: 0, max: 1_000 }),
      copies: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 80 }),
      maxBuffered: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
      pageSize: fc.integer({ min: 1, max: 12 }),
    })
    .chain(({ start, copies, maxBuffered, pageSize }) => {
      const sent = copies.flatMap((count, i) => Array<number>(count).fill(start + 1 + i));
      return fc.record({
        start: fc.constant(start),
        n: fc.constant(copies.length),
        maxBuffered: fc.constant(maxBuffered),
        pageSize: fc.constant(pageSize),
        arrivals: fc.shuffledSubarray(sent, { minLength: sent.length, maxLength: sent.length }),
        cuts: fc.array(fc.integer({ min: 1, max: 10 }), { minLength: sent.length, maxLength: sent.length }),
      });
    });

  it('delivers every event exactly once, in order, whatever the network does', () => {
    fc.assert(
      fc.property(stream, ({ start, n, maxBuffered, pageSize, arrivals, cuts }) => {
        const all = range(start + 1, start + n).map(message);
        const clock = manualClock();
        const buffer = new ReorderBuffer(start, { now: clock.now, maxBuffered });
        const delivered: number[] = [];

        const deliver = (events: ConversationEvent[]) => {
          for (const event of buffer.push(events)) delivered.push(event.seq);
          // Always a contiguous prefix, and a gap exactly when there is a date for it.
          expect(delivered).toEqual(range(start + 1, buffer.lastDelivered));
          expect(buffer.gapSince() === null).toBe(buffer.missing() === null);
          expect(buffer.buffered).toBeLessThanOrEqual(maxBuffered ?? MAX_BUFFERED_EVENTS);
          clock.advance(1);
        };

        // Live frames: arrivals cut into batches.
        let at = 0;
        for (const cut of cuts) {
          if (at >= arrivals.length) break;
          deliver(arrivals.slice(at, at + cut).map(message));
          at += cut;
        }

        // Every lost seq below the highest received one is still owed: delivery stops
        // short of it and `missing()` starts right where delivery stopped.
        const received = new Set(arrivals);
        const highest = Math.max(start, ...arrivals);
        const lost = range(start + 1, highest).filter((seq) => !received.has(seq));
        const gap = buffer.missing();
        if (buffer.lastDelivered === highest) {
          expect([lost, gap]).toEqual([[], null]);
        } else {
          expect(lost.every((seq) => seq > buffer.lastDelivered)).toBe(true);
          expect(gap?.after).toBe(buffer.lastDelivered);
          expect(gap?.before).toBeGreaterThan(buffer.lastDelivered + 1);
          expect(gap?.before).toBeLessThanOrEqual(highest + 1);
        }
        // With room for everything, nothing received is held back past a loss.
        if ((maxBuffered ?? MAX_BUFFERED_EVENTS) >= n) {
          expect(buffer.lastDelivered).toBe((lost[0] ?? highest + 1) - 1);
        }

        // Reconnect: `ready` announces the last seq, then the caller fetches until whole.
        buffer.noteLastSeq(start + n);
        for (let gap = buffer.missing(), pages = 0; gap !== null; gap = buffer.missing(), pages++) {
          expect(pages).toBeLessThanOrEqual(n);
          const page = fetchPage(all, gap, pageSize);
          expect(page.length).toBeGreaterThan(0);
          deliver(page);
        }

        expect(delivered).toEqual(range(start + 1, start + n));
        expect([buffer.buffered, buffer.gapSince()]).toEqual([0, null]);
      }),
      RUNS,
    );
  });

  it('hands out the very event objects it was given', () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(range(1, 30), { minLength: 30, maxLength: 30 }), (order) => {
        const events = new Map(order.map((seq) => [seq, message(seq)]));
        const buffer = new ReorderBuffer();
        const out = order.flatMap((seq) => buffer.push([events.get(seq)!]));
        expect(out.every((event) => event === events.get(event.seq))).toBe(true);
        expect(seqsOf(out)).toEqual(range(1, 30));
      }),
      RUNS,
    );
  });
});
