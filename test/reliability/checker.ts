/**
 * @module test/reliability/checker
 * Classifies every message of a run from what the apps saw through the SDK, per
 * conversation and per device, against the server's history read at the end:
 *
 * | class | meaning | allowed |
 * | --- | --- | --- |
 * | acked + delivered | acked with the seq it is stored at, stored once, shown by every device that should show it | – |
 * | acked but lost | acked, then missing from the store, stored at another seq than its ack said, or missing from a device that should have it (window or device event stream) | 0 |
 * | delivered twice | a seq handed to the app twice (window or device stream), a cmid stored twice, an ack reported twice | 0 |
 * | out of order | a seq handed to the app after a higher one (window, or per conversation on the device stream) | 0 |
 * | stored, never acked | in the history but the sender never saw its ack | reported |
 *
 * And the end state: every device's view (its window events folded by the SDK's own
 * `applyEvents`, as an app shows them) equals the fold of the server's history, message
 * by message: content, edits, deletes, reactions, reply quotes.
 *
 * Pure: no I/O.
 */
import { applyEvents, type Timeline } from '../../src/client/timeline.js';
import type { ConversationEvent, MessageEvent } from '../../src/client/index.js';
import type { Observation } from './ipc.js';

export interface CheckedDevice {
  name: string;
  userId: string;
  deviceId: string;
  wire: string;
  observations: readonly Observation[];
}

export interface CheckedConversation {
  id: string;
  name: string;
  /** The server's history, every event, ascending seq (read after the run). */
  history: readonly ConversationEvent[];
  /** Devices whose chat window must show every event of the conversation. */
  viewers: readonly string[];
  /** Devices whose device event stream must carry every message of the conversation. */
  inboxReaders: readonly string[];
}

export interface ConversationFigures {
  conversation: string;
  events: number;
  messages: number;
  queued: number;
  acked: number;
  ackedDelivered: number;
  ackedLost: number;
  ackWrongSeq: number;
  storedTwice: number;
  storedUnacked: number;
  failed: number;
  /** Queued, never acked, not stored (a send still pending or refused for good). */
  notStored: number;
  historyGaps: number;
}

export interface DeviceFigures {
  device: string;
  conversation: string;
  wire: string;
  delivered: number;
  duplicates: number;
  outOfOrder: number;
  /** History events the window never showed. */
  missing: number;
  /** Acked messages among them. */
  missingAcked: number;
  inboxDelivered: number;
  inboxDuplicates: number;
  inboxOutOfOrder: number;
  inboxMissing: number;
  acksTwice: number;
  /** Messages whose final state on this device differs from the server's. */
  viewDiffers: number;
}

export interface Verdict {
  conversations: ConversationFigures[];
  devices: DeviceFigures[];
  totals: { messages: number; acked: number; ackedDelivered: number; lost: number; duplicated: number; outOfOrder: number; storedUnacked: number; viewDiffers: number; failed: number };
  /** Findings that are reported but do not fail a run. */
  notes: string[];
  /** Human-readable evidence for every non-zero bad count (first few of each). */
  problems: string[];
}

const MAX_EXAMPLES = 5;

export function check(conversations: readonly CheckedConversation[], devices: readonly CheckedDevice[]): Verdict {
  const problems: string[] = [];
  const counts = new Map<string, number>();
  /** Keeps the first few problems of each kind. */
  const example = (kind: string, what: string) => {
    const n = counts.get(kind) ?? 0;
    counts.set(kind, n + 1);
    if (n < MAX_EXAMPLES) problems.push(what);
  };
  const conversationFigures: ConversationFigures[] = [];
  const deviceFigures: DeviceFigures[] = [];
  const byName = new Map(devices.map((d) => [d.name, d]));

  for (const conv of conversations) {
    const messages = conv.history.filter((e): e is MessageEvent => e.type === 'message');
    const stored = new Map<string, number[]>(); // sender user + cmid -> seqs
    for (const m of messages) {
      const key = `${m.author.userId}/${m.cmid}`;
      stored.set(key, [...(stored.get(key) ?? []), m.seq]);
    }
    const f: ConversationFigures = {
      conversation: conv.name,
      events: conv.history.length,
      messages: messages.length,
      queued: 0,
      acked: 0,
      ackedDelivered: 0,
      ackedLost: 0,
      ackWrongSeq: 0,
      storedTwice: 0,
      storedUnacked: 0,
      failed: 0,
      notStored: 0,
      historyGaps: 0,
    };
    conv.history.forEach((e, i) => {
      if (e.seq !== i + 1) f.historyGaps++;
    });
    if (f.historyGaps > 0) example('gap', `${conv.name}: history seqs are not 1..${conv.history.length}`);
    for (const [key, seqs] of stored) {
      if (seqs.length > 1) {
        f.storedTwice += seqs.length - 1;
        example('twice', `${conv.name}: cmid ${key} stored ${seqs.length} times, at seqs ${seqs.join(', ')}`);
      }
    }

    // Every send any device queued in this conversation, with its outcome.
    const ackedSeqs = new Set<number>();
    const ackedKeys = new Set<string>();
    const queuedKeys = new Set<string>();
    for (const device of devices) {
      const queued = new Map<string, { acked: number | null; failed: string | null }>();
      for (const o of device.observations) {
        if (!('c' in o) || o.c !== conv.id) continue;
        if (o.k === 'q') queued.set(o.cmid, { acked: null, failed: null });
        else if (o.k === 'ack') {
          const entry = queued.get(o.cmid) ?? { acked: null, failed: null };
          entry.acked = o.seq;
          queued.set(o.cmid, entry);
        } else if (o.k === 'fail') {
          const entry = queued.get(o.cmid) ?? { acked: null, failed: null };
          entry.failed = o.code;
          queued.set(o.cmid, entry);
        }
      }
      for (const [cmid, outcome] of queued) {
        f.queued++;
        const key = `${device.userId}/${cmid}`;
        queuedKeys.add(key);
        const seqs = stored.get(key) ?? [];
        if (outcome.acked !== null) {
          f.acked++;
          ackedKeys.add(key);
          if (seqs.length === 0) {
            f.ackedLost++;
            example('lost', `${conv.name}: ${device.name}'s ${cmid} acked as seq ${outcome.acked}, not in the history`);
          } else if (!seqs.includes(outcome.acked)) {
            f.ackWrongSeq++;
            example('wrong', `${conv.name}: ${device.name}'s ${cmid} acked as seq ${outcome.acked}, stored at ${seqs.join(', ')}`);
          } else ackedSeqs.add(outcome.acked);
        } else if (outcome.failed !== null) f.failed++;
        else if (seqs.length === 0) f.notStored++;
      }
    }
    for (const m of messages) {
      const key = `${m.author.userId}/${m.cmid}`;
      if (!ackedKeys.has(key) && queuedKeys.has(key)) f.storedUnacked++;
    }

    // What each device showed.
    const serverView = normalise(applyEvents(new Map(), [...conv.history]));
    const historyBySeq = new Map(conv.history.map((e) => [e.seq, e]));
    const undeliveredAcked = new Set<number>();
    const names = [...new Set([...conv.viewers, ...conv.inboxReaders])];
    for (const name of names) {
      const device = byName.get(name);
      if (!device) throw new Error(`no device named ${name}`);
      const d: DeviceFigures = {
        device: name,
        conversation: conv.name,
        wire: device.wire,
        delivered: 0,
        duplicates: 0,
        outOfOrder: 0,
        missing: 0,
        missingAcked: 0,
        inboxDelivered: 0,
        inboxDuplicates: 0,
        inboxOutOfOrder: 0,
        inboxMissing: 0,
        acksTwice: 0,
        viewDiffers: 0,
      };
      if (conv.viewers.includes(name)) {
        const shown: ConversationEvent[] = [];
        const seen = new Set<number>();
        let highest = 0;
        for (const o of device.observations) {
          if (o.k !== 'ev' || o.c !== conv.id) continue;
          if (seen.has(o.e.seq)) {
            d.duplicates++;
            example('dup', `${name} was shown seq ${o.e.seq} of ${conv.name} twice`);
            continue;
          }
          if (o.e.seq < highest) {
            d.outOfOrder++;
            example('order', `${name} was shown seq ${o.e.seq} of ${conv.name} after seq ${highest}`);
          }
          seen.add(o.e.seq);
          highest = Math.max(highest, o.e.seq);
          shown.push(o.e);
        }
        d.delivered = seen.size;
        for (const e of conv.history) {
          if (seen.has(e.seq)) continue;
          d.missing++;
          if (ackedSeqs.has(e.seq)) {
            d.missingAcked++;
            undeliveredAcked.add(e.seq);
          }
          example('missing', `${name} never showed seq ${e.seq} (${e.type}) of ${conv.name}`);
        }
        const deviceView = normalise(applyEvents(new Map(), shown));
        for (const seq of new Set([...serverView.keys(), ...deviceView.keys()])) {
          if (serverView.get(seq) === deviceView.get(seq)) continue;
          d.viewDiffers++;
          example('view', `${name} shows seq ${seq} of ${conv.name} as ${deviceView.get(seq) ?? 'nothing'}; the server has ${serverView.get(seq) ?? 'nothing'}`);
        }
        const ackCounts = new Map<string, number>();
        for (const o of device.observations) if (o.k === 'ack' && o.c === conv.id) ackCounts.set(o.cmid, (ackCounts.get(o.cmid) ?? 0) + 1);
        for (const [cmid, n] of ackCounts) {
          if (n < 2) continue;
          d.acksTwice += n - 1;
          example('ack2', `${name} reported the ack of ${cmid} ${n} times`);
        }
      }
      if (conv.inboxReaders.includes(name)) {
        const seen = new Map<number, number>(); // seq -> the client session that first showed it
        let highest = 0;
        let session = 0;
        for (const o of device.observations) {
          if (o.k === 'restart') session++;
          if (o.k !== 'in') continue;
          for (const de of o.events) {
            if (de.kind !== 'event' || de.conversationId !== conv.id) continue;
            const seq = de.event.seq;
            const first = seen.get(seq);
            if (first !== undefined) {
              d.inboxDuplicates++;
              const when = first < session ? ' (again after the app restarted its client)' : '';
              example('idup', `${name}'s device stream carried seq ${seq} of ${conv.name} twice${when}`);
              continue;
            }
            if (seq < highest) {
              d.inboxOutOfOrder++;
              example('iorder', `${name}'s device stream carried seq ${seq} of ${conv.name} after ${highest}`);
            }
            seen.set(seq, session);
            highest = Math.max(highest, seq);
          }
        }
        d.inboxDelivered = seen.size;
        for (const m of messages) {
          // A device's own sends may or may not come back on its own stream; others' must.
          if (seen.has(m.seq) || m.author.deviceId === device.deviceId) continue;
          d.inboxMissing++;
          if (ackedSeqs.has(m.seq)) undeliveredAcked.add(m.seq);
          example('imissing', `${name}'s device stream never carried message seq ${m.seq} of ${conv.name}`);
        }
      }
      deviceFigures.push(d);
    }
    for (const seq of ackedSeqs) {
      if (!undeliveredAcked.has(seq) && historyBySeq.has(seq)) f.ackedDelivered++;
    }
    conversationFigures.push(f);
  }

  const sum = <T>(rows: T[], pick: (r: T) => number) => rows.reduce((n, r) => n + pick(r), 0);
  const totals = {
    messages: sum(conversationFigures, (c) => c.messages),
    acked: sum(conversationFigures, (c) => c.acked),
    ackedDelivered: sum(conversationFigures, (c) => c.ackedDelivered),
    lost: sum(conversationFigures, (c) => c.ackedLost + c.ackWrongSeq + c.historyGaps) + sum(deviceFigures, (d) => d.missing + d.inboxMissing),
    duplicated: sum(conversationFigures, (c) => c.storedTwice) + sum(deviceFigures, (d) => d.duplicates + d.inboxDuplicates + d.acksTwice),
    outOfOrder: sum(deviceFigures, (d) => d.outOfOrder + d.inboxOutOfOrder),
    storedUnacked: sum(conversationFigures, (c) => c.storedUnacked),
    viewDiffers: sum(deviceFigures, (d) => d.viewDiffers),
    failed: sum(conversationFigures, (c) => c.failed),
  };
  return { conversations: conversationFigures, devices: deviceFigures, totals, problems: problems.filter((p) => !p.includes('(reported, not counted)')), notes: problems.filter((p) => p.includes('(reported, not counted)')) };
}

/** One message as a device shows it, as a comparable string, by seq. */
function normalise(timeline: Timeline): Map<number, string> {
  const out = new Map<number, string>();
  for (const [seq, m] of timeline) {
    out.set(
      seq,
      JSON.stringify({
        cmid: m.cmid,
        author: m.author.userId,
        content: m.content ?? null,
        edited: m.edited?.seq ?? null,
        deleted: m.deleted ? { scope: m.deleted.scope, seq: m.deleted.seq } : null,
        hidden: m.hidden ?? false,
        reactions: m.reactions ?? [],
        replyTo: m.replyTo ?? null,
      }),
    );
  }
  return out;
}

/** The verdict as a few printable lines. */
export function describeVerdict(v: Verdict): string {
  const t = v.totals;
  const lines = [
    `messages stored ${t.messages}, acked ${t.acked}, acked+delivered ${t.ackedDelivered}, acked but lost ${t.lost}, delivered twice ${t.duplicated}, out of order ${t.outOfOrder}, stored never acked ${t.storedUnacked}, refused ${t.failed}, views differing ${t.viewDiffers}`,
  ];
  for (const c of v.conversations) {
    lines.push(`  ${c.conversation}: ${c.events} events (${c.messages} messages), queued ${c.queued}, acked ${c.acked}, lost ${c.ackedLost}, wrong seq ${c.ackWrongSeq}, stored twice ${c.storedTwice}, stored never acked ${c.storedUnacked}, refused ${c.failed}, pending ${c.notStored}`);
  }
  for (const d of v.devices) {
    lines.push(
      `  ${d.device} (${d.wire}) in ${d.conversation}: window ${d.delivered} shown, ${d.duplicates} twice, ${d.outOfOrder} out of order, ${d.missing} missing; device stream ${d.inboxDelivered}, ${d.inboxDuplicates} twice, ${d.inboxOutOfOrder} out of order, ${d.inboxMissing} missing; view differs ${d.viewDiffers}`,
    );
  }
  if (v.problems.length > 0) lines.push('problems:', ...v.problems.map((p) => `  ${p}`));
  if (v.notes.length > 0) lines.push('reported:', ...v.notes.map((p) => `  ${p}`));
  return lines.join('\n');
}
