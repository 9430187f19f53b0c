/**
 * The checker catches each kind of fault: synthetic runs (two devices, one conversation,
 * no server) with one fault planted each are classified as the suite promises, and a
 * clean run is clean. Without this, a scenario's "lost 0" could come from a checker that
 * never counts anything.
 */
import { describe, expect, it } from 'vitest';
import type { ConversationEvent, DeviceEvent } from '../../src/client/index.js';
import { check, type CheckedConversation, type CheckedDevice, type Verdict } from './checker.js';
import type { Observation } from './ipc.js';

const C = 'conv1';
const alice = { userId: 'ua', deviceId: 'da' };
const bob = { userId: 'ub', deviceId: 'db' };

const message = (seq: number, author: typeof alice, cmid: string, text: string): ConversationEvent => ({ type: 'message', seq, ts: seq, author, cmid, content: { type: 'text', text } });
const edit = (seq: number, author: typeof alice, targetSeq: number, text: string): ConversationEvent => ({ type: 'message_edited', seq, ts: seq, author, targetSeq, content: { type: 'text', text } });
const remove = (seq: number, author: typeof alice, targetSeq: number): ConversationEvent => ({ type: 'message_deleted', seq, ts: seq, author, targetSeq, scope: 'everyone' });
const react = (seq: number, author: typeof alice, targetSeq: number, emoji: string): ConversationEvent => ({ type: 'reaction', seq, ts: seq, author, targetSeq, emoji, op: 'add' });

/** The server's history: two messages, an edit, a reaction, a delete, a third message. */
const HISTORY: ConversationEvent[] = [
  message(1, alice, 'cmid-alice-1', 'hello'),
  message(2, bob, 'cmid-bob-1', 'hi'),
  edit(3, alice, 1, 'hello, edited'),
  react(4, bob, 1, '👍'),
  remove(5, bob, 2),
  message(6, alice, 'cmid-alice-2', 'still there?'),
];

const shown = (e: ConversationEvent): Observation => ({ k: 'ev', c: C, e, at: e.seq });
const streamed = (events: ConversationEvent[]): Observation => ({ k: 'in', events: events.map((event, i): DeviceEvent => ({ kind: 'event', cursor: event.seq * 10 + i, conversationId: C, event })), at: 0 });
const queued = (cmid: string): Observation => ({ k: 'q', c: C, cmid, text: cmid, at: 0 });
const acked = (cmid: string, seq: number): Observation => ({ k: 'ack', c: C, cmid, seq, dup: false, at: 0 });

/** A run in which nothing went wrong: every send acked at its seq, every event shown once, in order, by both devices. */
function cleanRun(): { conversations: CheckedConversation[]; devices: CheckedDevice[] } {
  const sends = (who: typeof alice) => HISTORY.flatMap((e) => (e.type === 'message' && e.author === who ? [queued(e.cmid), acked(e.cmid, e.seq)] : []));
  const fromOthers = (who: typeof alice) => HISTORY.filter((e) => e.author !== who);
  const device = (name: string, who: typeof alice): CheckedDevice => ({
    name,
    ...who,
    wire: 'websocket',
    observations: [...sends(who), ...HISTORY.map(shown), streamed(fromOthers(who))],
  });
  return {
    conversations: [{ id: C, name: 'direct', history: structuredClone(HISTORY), viewers: ['alice', 'bob'], inboxReaders: ['alice', 'bob'] }],
    devices: [device('alice', alice), device('bob', bob)],
  };
}

function verdict(change: (run: ReturnType<typeof cleanRun>) => void): Verdict {
  const run = cleanRun();
  change(run);
  return check(run.conversations, run.devices);
}

const CLEAN = { lost: 0, duplicated: 0, outOfOrder: 0, storedUnacked: 0, viewDiffers: 0, failed: 0 };
const observationsOf = (run: ReturnType<typeof cleanRun>, name: string) => run.devices.find((d) => d.name === name)!.observations as Observation[];
/** Replaces the event a device was shown at `seq` with `e`. */
const showInstead = (run: ReturnType<typeof cleanRun>, name: string, seq: number, e: ConversationEvent) => {
  const observations = observationsOf(run, name);
  observations[observations.findIndex((o) => o.k === 'ev' && o.e.seq === seq)] = shown(e);
};

describe('the checker', () => {
  it('classifies a clean run as clean: everything acked and delivered', () => {
    const v = verdict(() => {});
    expect(v.totals).toMatchObject({ ...CLEAN, messages: 3, acked: 3, ackedDelivered: 3 });
    expect(v.problems).toEqual([]);
  });

  it('counts an acked message missing from the history as lost', () => {
    const v = verdict((run) => observationsOf(run, 'bob').push(queued('cmid-bob-2'), acked('cmid-bob-2', 7)));
    expect(v.totals).toMatchObject({ ...CLEAN, lost: 1 });
    expect(v.conversations[0]!.ackedLost).toBe(1);
    expect(v.problems).toEqual(["direct: bob's cmid-bob-2 acked as seq 7, not in the history"]);
  });

  it('counts an acked message a device never showed as lost, and not as delivered', () => {
    const v = verdict((run) => {
      const bobs = observationsOf(run, 'bob');
      bobs.splice(bobs.findIndex((o) => o.k === 'ev' && o.e.seq === 6), 1);
    });
    expect(v.totals).toMatchObject({ lost: 1, duplicated: 0, outOfOrder: 0, ackedDelivered: 2 });
    expect(v.devices.find((d) => d.device === 'bob')).toMatchObject({ missing: 1, missingAcked: 1 });
    expect(v.problems).toContain('bob never showed seq 6 (message) of direct');
  });

  it('counts an acked message missing from a device event stream as lost', () => {
    const v = verdict((run) => {
      const bobs = observationsOf(run, 'bob');
      bobs[bobs.findIndex((o) => o.k === 'in')] = streamed(HISTORY.filter((e) => e.author === alice && e.seq !== 6));
    });
    expect(v.totals).toMatchObject({ ...CLEAN, lost: 1 });
    expect(v.problems).toEqual(["bob's device stream never carried message seq 6 of direct"]);
  });

  it('counts a message stored twice, shown twice or acked twice as delivered twice', () => {
    expect(verdict((run) => (run.conversations[0] = { ...run.conversations[0]!, history: [...HISTORY, message(7, alice, 'cmid-alice-2', 'still there?')] })).conversations[0]!.storedTwice).toBe(1);
    const shownTwice = verdict((run) => observationsOf(run, 'alice').push(shown(HISTORY[1]!)));
    expect(shownTwice.totals).toMatchObject({ ...CLEAN, duplicated: 1 });
    expect(shownTwice.problems).toEqual(['alice was shown seq 2 of direct twice']);
    const streamedTwice = verdict((run) => observationsOf(run, 'alice').push(streamed([HISTORY[1]!])));
    expect(streamedTwice.totals).toMatchObject({ ...CLEAN, duplicated: 1 });
    const ackedTwice = verdict((run) => observationsOf(run, 'alice').push(acked('cmid-alice-1', 1)));
    expect(ackedTwice.totals).toMatchObject({ ...CLEAN, duplicated: 1 });
  });

  it('counts an event shown after a higher seq as out of order, in the window and on the device stream', () => {
    const window = verdict((run) => {
      const alices = observationsOf(run, 'alice');
      const [at2, at3] = [2, 3].map((seq) => alices.findIndex((o) => o.k === 'ev' && o.e.seq === seq)) as [number, number];
      [alices[at2], alices[at3]] = [alices[at3]!, alices[at2]!];
    });
    expect(window.totals).toMatchObject({ ...CLEAN, outOfOrder: 1 });
    expect(window.problems).toEqual(['alice was shown seq 2 of direct after seq 3']);
    const stream = verdict((run) => {
      const alices = observationsOf(run, 'alice');
      alices[alices.findIndex((o) => o.k === 'in')] = streamed([HISTORY[4]!, HISTORY[1]!, HISTORY[3]!]);
    });
    expect(stream.totals).toMatchObject({ ...CLEAN, outOfOrder: 2 });
  });

  it('reports a message stored but never acked, and does not count it as a fault', () => {
    const v = verdict((run) => {
      const alices = observationsOf(run, 'alice');
      alices.splice(alices.findIndex((o) => o.k === 'ack' && o.cmid === 'cmid-alice-2'), 1);
    });
    expect(v.totals).toMatchObject({ ...CLEAN, storedUnacked: 1, acked: 2 });
    expect(v.problems).toEqual([]);
  });

  it('counts a final view that differs from the server: content, an edit, a delete, a reaction', () => {
    const content = verdict((run) => showInstead(run, 'bob', 6, message(6, alice, 'cmid-alice-2', 'something else')));
    const edited = verdict((run) => showInstead(run, 'bob', 3, edit(3, alice, 1, 'an older edit')));
    const deleted = verdict((run) => showInstead(run, 'bob', 5, remove(5, bob, 1)));
    const reacted = verdict((run) => showInstead(run, 'bob', 4, react(4, bob, 1, '🎉')));
    for (const v of [content, edited, deleted, reacted]) {
      expect(v.totals).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0 });
      expect(v.totals.viewDiffers).toBeGreaterThan(0);
      expect(v.problems.every((p) => p.startsWith('bob shows seq '))).toBe(true);
    }
    expect(content.problems).toEqual([expect.stringContaining('"content":{"type":"text","text":"something else"}')]);
    expect(edited.problems).toEqual([expect.stringContaining('an older edit')]);
    // The delete hit seq 1 instead of seq 2: both messages differ.
    expect(deleted.totals.viewDiffers).toBe(2);
    expect(reacted.problems).toEqual([expect.stringContaining('🎉')]);
  });
});
