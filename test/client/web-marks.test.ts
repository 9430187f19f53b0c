import { describe, expect, it } from 'vitest';
import type { MessageEvent } from '../../src/client/index.js';
import { dayLabel, firstUnreadNotLoaded, marksBefore } from '../../src/web/lib/marks.js';

/** Local times, so the tests hold in any time zone. */
const at = (y: number, month: number, d: number, h = 12) => new Date(y, month - 1, d, h).getTime();
const NOW = at(2026, 12, 6, 15);

function msg(seq: number, ts: number, userId = 'peer'): MessageEvent {
  return { type: 'message', seq, ts, author: { userId, deviceId: 'd' }, cmid: `cmid-${seq}-xxxx`, content: { type: 'text', text: `m${seq}` } };
}

describe('day separators', () => {
  it('one before the first message of each local day, none between messages of one day', () => {
    const messages = [msg(1, at(2026, 12, 4, 9)), msg(2, at(2026, 12, 4, 23)), msg(3, at(2026, 12, 5, 0)), msg(4, at(2026, 12, 6, 8)), msg(5, at(2026, 12, 6, 14))];
    const marks = marksBefore(messages, { me: 'me', readSeqAtOpen: null, hasOlder: false, now: NOW });
    expect([...marks.keys()]).toEqual([1, 3, 4]);
    expect(marks.get(3)).toEqual([{ kind: 'day', label: 'Yesterday' }]);
    expect(marks.get(4)).toEqual([{ kind: 'day', label: 'Today' }]);
  });

  it('names recent days by weekday, older ones by date, with the year only when it is not this one', () => {
    expect(dayLabel(at(2026, 12, 3), NOW)).toBe(new Date(at(2026, 12, 3)).toLocaleDateString(undefined, { weekday: 'long' }));
    expect(dayLabel(at(2026, 11, 20), NOW)).not.toMatch(/2026/);
    expect(dayLabel(at(2025, 11, 20), NOW)).toMatch(/2025/);
  });

  it('counts a day across a daylight-saving change as one day', () => {
    // 29 March 2026 is 23 hours long in much of Europe; the label must not skip or repeat.
    expect(dayLabel(at(2026, 3, 29, 1), at(2026, 3, 30, 23))).toBe('Yesterday');
  });
});

describe('the new-messages divider', () => {
  it('sits before the first message from someone else after the watermark, counting them', () => {
    const messages = [msg(1, NOW - 5_000), msg(2, NOW - 4_000, 'me'), msg(3, NOW - 3_000), msg(4, NOW - 2_000, 'me'), msg(5, NOW - 1_000)];
    const marks = marksBefore(messages, { me: 'me', readSeqAtOpen: 2, hasOlder: false, now: NOW });
    expect(marks.get(3)).toEqual([{ kind: 'unread', count: 2 }]);
    expect(marks.get(1)).toEqual([{ kind: 'day', label: 'Today' }]);
  });

  it('does not count what arrives while the chat is on screen', () => {
    const messages = [msg(1, NOW - 3_000), msg(2, NOW - 2_000), msg(3, NOW - 1_000)];
    expect(marksBefore(messages, { me: 'me', readSeqAtOpen: 1, hasOlder: false, openedAt: 2, now: NOW }).get(2)).toEqual([{ kind: 'unread', count: 1 }]);
    expect([...marksBefore(messages, { me: 'me', readSeqAtOpen: 2, hasOlder: false, openedAt: 2, now: NOW }).values()].flat().map((m) => m.kind)).toEqual(['day']);
  });

  it('is absent when everything was read, when only my own messages follow, or when the watermark is unknown', () => {
    const messages = [msg(1, NOW - 3_000), msg(2, NOW - 2_000, 'me'), msg(3, NOW - 1_000, 'me')];
    const kinds = (readSeq: number | null) => [...marksBefore(messages, { me: 'me', readSeqAtOpen: readSeq, hasOlder: false, now: NOW }).values()].flat().map((m) => m.kind);
    expect(kinds(3)).toEqual(['day']);
    expect(kinds(1)).toEqual(['day']);
    expect(kinds(null)).toEqual(['day']);
  });

  it('is left out while the first unread message may be further back, and says when to read back for it', () => {
    const messages = [msg(40, NOW - 3_000), msg(41, NOW - 2_000), msg(42, NOW - 1_000)];
    const kinds = (readSeq: number, hasOlder: boolean) => [...marksBefore(messages, { me: 'me', readSeqAtOpen: readSeq, hasOlder, now: NOW }).values()].flat().map((m) => m.kind);
    expect(kinds(10, true)).toEqual(['day']);
    expect(firstUnreadNotLoaded(messages, 10, true)).toBe(true);
    // All of history is here: the first loaded message is the first unread.
    expect(kinds(10, false)).toEqual(['day', 'unread']);
    expect(firstUnreadNotLoaded(messages, 10, false)).toBe(false);
    // The last read message is loaded.
    expect(kinds(40, true)).toEqual(['day', 'unread']);
    expect(firstUnreadNotLoaded(messages, 39, true)).toBe(false);
    expect(firstUnreadNotLoaded(messages, null, true)).toBe(false);
  });

  it('shares a message with its day separator, the day first', () => {
    const messages = [msg(1, at(2026, 12, 5)), msg(2, at(2026, 12, 6, 9))];
    expect(marksBefore(messages, { me: 'me', readSeqAtOpen: 1, hasOlder: false, now: NOW }).get(2)).toEqual([
      { kind: 'day', label: 'Today' },
      { kind: 'unread', count: 1 },
    ]);
  });
});
