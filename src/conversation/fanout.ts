/**
 * @module conversation/fanout
 * Fan-out of accepted events to members' UserDOs (seed: on write for small groups, on
 * read for large ones).
 *
 * The event log is the outbox: an event is durable the moment it is stored, and one
 * watermark (`done_seq`) says how far it has been fanned out. No row is written per
 * member or per message; a drain pass sends every member the events after the watermark
 * in one call each and then moves it once, in memory (`PassMemory`): the stored one
 * follows with the conversation's next write (`persistWatermark`: the next send, the
 * alarm), so a message at a steady rate costs this object one commit, not two. After an
 * eviction passes resume from the stored watermark, and members get the last pass again. A member whose call failed gets a
 * row in `fanout_lag` (its own cursor) and is caught up from there with backoff, from
 * the alarm if need be; the others are not held back. UserDOs apply each (conversation,
 * seq) at most once, so a retry never duplicates. A member watching in a chat window
 * gets at most one call per FANOUT_WATCHING_INTERVAL_MS: passes leave them behind, at
 * their own place in memory, and the stored watermark never passes the lowest of those.
 *
 * Above the threshold (FANOUT_ON_WRITE_MAX_MEMBERS) members get no events, only a
 * coalesced "activity up to seq N" hint, at most one round per FANOUT.hintIntervalMs. A
 * round goes FANOUT_HINT_BATCH members a pass, in join order, from a cursor kept with the
 * watermark: a channel of any size costs one page of calls per pass.
 *
 * Members get events rendered for them (src/conversation/visibility.ts), never the log's
 * raw rows: a message deleted or moderated before its pass reaches a queue as a tombstone.
 *
 * About 535 lines, not split: the passes, the members behind, the lag rows and the hint
 * rounds all read and move the one watermark, and each part's invariant is about it.
 */
import * as log from './log.js';
import { OUTBOX } from './outbox.js';
import type { ConversationEvent, ConversationKind, Member } from '../protocol/index.js';
import type { MemberPosition } from './members.js';
import type { UserUpdate } from '../user/updates.js';
import { fact, type ConversationStore } from './store.js';
import { log as logger, reason } from '../log.js';
import type { Metric } from '../metrics.js';
import { earliest } from '../objects/alarm.js';

export const FANOUT = {
  /**
   * Most events sent to a member in one call: enough for a pass every
   * `minPassIntervalMs` to keep up with 2,500 msg/s. At most 250 x 64 KiB frames, within
   * the 32 MiB an RPC may carry.
   */
  batchEvents: 250,
  /** Large conversations start a round of activity hints at most once per interval. */
  hintIntervalMs: 2_000,
  /** Bound on passes per drain, so one drain cannot run forever under constant load. */
  maxPasses: 50,
  /**
   * Watching members due the rest are called at most this many a pass, or as many as
   * spreads them all over one watching interval if that is more (`watchingQuota`). After a
   * quiet spell every member is called in one pass, so without a bound they would all come
   * due together again, every interval: a burst of calls (locally, of commits on the one
   * thread: `group 99 50/s` p95, docs/BENCHMARKS.md). Below this many, spreading them
   * would only add passes.
   */
  watchingCallsPerPass: 10,
} as const;

/**
 * The timings of fan-out, as settings: production defaults below, overridden per
 * deployment by variables (wrangler.toml sets the local ones for `wrangler dev`).
 */
export interface FanoutTuning {
  /**
   * FANOUT_ON_WRITE_MAX_MEMBERS: conversations with more members fan out on read. The
   * default follows the seed design (groups under 100 members fan out on write). Measured
   * locally (docs/BENCHMARKS.md), a group at 50 msg/s pays ~50 µs of runtime CPU per
   * member and message on write (a call per member per pass) and nothing per member on
   * read; what on read gives up is each member's device queue and push for that group.
   */
  maxMembersOnWrite: number;
  /**
   * FANOUT_MIN_PASS_INTERVAL_MS. Back-to-back passes start at least this far apart, so
   * a conversation with steady traffic sends each member one call per interval carrying
   * everything accepted meanwhile, rather than one call per message. The first pass after
   * a quiet spell goes at once; a message that follows within the interval reaches the
   * members' inboxes up to this much later (the chat windows not at all). A call per
   * member is most of fan-out's cost (a turn and a commit in each member's object), so
   * this sets the calls per message at steady rates: measured at 100 msg/s in a direct
   * conversation (docs/BENCHMARKS.md), 2 calls per message with passes 4 ms apart cost
   * 2.8x the SQLite baseline's CPU per message, 25 ms 2.2x, 50 ms 1.7x, 100 ms 1.45x.
   * The trade-off (member calls against inbox latency) holds on any platform, so the
   * default is the value measured locally.
   */
  minPassIntervalMs: number;
  /**
   * FANOUT_PASS_INTERVAL_PER_MEMBER_MS. A pass costs one call per member it calls, so the
   * next one starts further off after a pass that called many (2 ms per member, 200 ms
   * for 99): calls per second stay near 500 per busy conversation whatever its size.
   */
  passIntervalPerMemberMs: number;
  /**
   * FANOUT_SETTLE_MS. A drain's first pass starts this long after the write it fans out
   * is durable. Under `wrangler dev` every object shares one thread, so a pass started at
   * once runs before the ack and the chat windows' broadcast that the output gate
   * released with the write; there 5 ms moved p50 send→receive of a 1:1 chat from 1.5x
   * to 0.9x the SQLite baseline. On Cloudflare the members' objects run elsewhere and
   * waiting only delays the inbox feed, so production starts at once.
   */
  settleMs: number;
  /**
   * FANOUT_HINT_BATCH. Members hinted per pass, in parallel. Passes are spaced as for this
   * many members on write, so a channel of 100,000 members finishes a round in 100 passes
   * (~200 s at 2 ms a member). Under `wrangler dev` every member's object shares the
   * conversation's one thread, and a round of 100 hints at once (100 commits) stalls it
   * for the whole burst, every FANOUT.hintIntervalMs: the tail latency of a steady
   * group chat there. Locally a round goes 10 members a pass instead; on Cloudflare the
   * members' objects run elsewhere, and a page of 1,000 is what keeps big rounds short.
   */
  hintBatch: number;
  /**
   * FANOUT_WATCHING_INTERVAL_MS. A member with a chat window open on the conversation
   * has its messages there already; their UserDO (the list, their other devices' queues,
   * push) gets at most one call per this interval, carrying everything since the last.
   * The first message after a quiet spell still goes at once; later ones in a burst
   * reach the member's inbox up to this much later. An active conversation is one its
   * members are watching, so this is what sets its calls per message: measured locally
   * (docs/BENCHMARKS.md) 50 direct conversations at their fastest made 1.6 member calls
   * per message without it. The trade-off holds on any platform. 0: no member waits.
   */
  watchingIntervalMs: number;
}

export const FANOUT_DEFAULTS: FanoutTuning = {
  maxMembersOnWrite: 99,
  minPassIntervalMs: 100,
  passIntervalPerMemberMs: 2,
  settleMs: 0,
  hintBatch: 1_000,
  watchingIntervalMs: 1_000,
};

/** The deployment's tuning: each variable when it is a non-negative integer, else the default. */
export function fanoutTuning(env: {
  FANOUT_ON_WRITE_MAX_MEMBERS?: string | undefined;
  FANOUT_MIN_PASS_INTERVAL_MS?: string | undefined;
  FANOUT_PASS_INTERVAL_PER_MEMBER_MS?: string | undefined;
  FANOUT_SETTLE_MS?: string | undefined;
  FANOUT_HINT_BATCH?: string | undefined;
  FANOUT_WATCHING_INTERVAL_MS?: string | undefined;
}): FanoutTuning {
  const maxMembers = setting(env.FANOUT_ON_WRITE_MAX_MEMBERS, FANOUT_DEFAULTS.maxMembersOnWrite);
  const hintBatch = setting(env.FANOUT_HINT_BATCH, FANOUT_DEFAULTS.hintBatch);
  return {
    maxMembersOnWrite: maxMembers > 0 ? maxMembers : FANOUT_DEFAULTS.maxMembersOnWrite,
    minPassIntervalMs: setting(env.FANOUT_MIN_PASS_INTERVAL_MS, FANOUT_DEFAULTS.minPassIntervalMs),
    passIntervalPerMemberMs: setting(env.FANOUT_PASS_INTERVAL_PER_MEMBER_MS, FANOUT_DEFAULTS.passIntervalPerMemberMs),
    settleMs: setting(env.FANOUT_SETTLE_MS, FANOUT_DEFAULTS.settleMs),
    hintBatch: hintBatch > 0 ? hintBatch : FANOUT_DEFAULTS.hintBatch,
    watchingIntervalMs: setting(env.FANOUT_WATCHING_INTERVAL_MS, FANOUT_DEFAULTS.watchingIntervalMs),
  };
}

function setting(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && value !== '' && Number.isSafeInteger(n) && n >= 0 ? n : fallback;
}

/** How long after a pass that called `calls` members the next one may start. */
export function passIntervalMs(tuning: FanoutTuning, calls: number): number {
  return Math.max(tuning.minPassIntervalMs, calls * tuning.passIntervalPerMemberMs);
}

/**
 * How many watching members due the rest one pass calls (FANOUT.watchingCallsPerPass):
 * enough that `members` all get their call within a watching interval of passes.
 */
export function watchingQuota(tuning: FanoutTuning, members: number): number {
  if (tuning.watchingIntervalMs === 0) return Number.POSITIVE_INFINITY;
  const passes = Math.max(1, Math.floor(tuning.watchingIntervalMs / Math.max(1, tuning.minPassIntervalMs)));
  return Math.max(FANOUT.watchingCallsPerPass, Math.ceil(members / passes));
}

interface StateRow {
  done_seq: number;
  hinted_at: number;
  hint_after_joined_at: number | null;
  hint_after_user_id: string | null;
  [key: string]: SqlStorageValue;
}

export interface FanoutState {
  doneSeq: number;
  hintedAt: number;
  /** Where the round of hints in progress has got to (the last member hinted), or null when none is. */
  hintAfter: MemberPosition | null;
}

interface LagRow {
  user_id: string;
  after_seq: number;
  attempts: number;
  [key: string]: SqlStorageValue;
}

/** The watermark row (this module is its only writer, and every send's drain asks for it). */
export const STATE = fact<FanoutState>('fanout.state', (sql) => {
  const row = sql.exec<StateRow>('SELECT done_seq, hinted_at, hint_after_joined_at, hint_after_user_id FROM fanout_state WHERE id = 1').one();
  const hintAfter = row.hint_after_joined_at !== null && row.hint_after_user_id !== null ? { joinedAt: row.hint_after_joined_at, userId: row.hint_after_user_id } : null;
  return { doneSeq: row.done_seq, hintedAt: row.hinted_at, hintAfter };
});

/** When the earliest lagging member is due, or null when none lags. */
export const LAG_DUE = fact<number | null>('fanout.lagDue', (sql) => sql.exec<{ at: number | null }>('SELECT min(next_attempt_at) AS at FROM fanout_lag').one().at);

export function state(store: ConversationStore): FanoutState {
  return store.get(STATE);
}

function setState(store: ConversationStore, next: FanoutState): void {
  const { doneSeq, hintedAt, hintAfter } = next;
  store.sql.exec(
    'UPDATE fanout_state SET done_seq = ?, hinted_at = ?, hint_after_joined_at = ?, hint_after_user_id = ? WHERE id = 1',
    doneSeq,
    hintedAt,
    hintAfter?.joinedAt ?? null,
    hintAfter?.userId ?? null,
  );
  store.set(STATE, next);
}

/** A member passes left behind the others: how far they have been sent, and when they are due the rest. */
export interface Behind {
  upTo: number;
  dueAt: number;
}

/**
 * What fan-out keeps in memory across drains (lost with the instance, which is safe): when
 * the last pass started and how much it carried, so a drain that ends as soon as nothing
 * is due still spaces its passes from the previous drain's; how far passes have sent
 * every member not lagging nor behind, which the stored watermark may trail; the members
 * left behind (watching: FanoutTuning.watchingIntervalMs), and when each member last got
 * a call.
 */
export interface PassMemory {
  lastAt: number;
  carried: number;
  /** Members the last pass called: the next pass waits `passIntervalMs` for them. */
  calls: number;
  sentUpTo: number;
  behind: Map<string, Behind>;
  calledAt: Map<string, number>;
}

export function newPassMemory(): PassMemory {
  return { lastAt: 0, carried: 0, calls: 0, sentUpTo: 0, behind: new Map(), calledAt: new Map() };
}

/** How far every member not lagging nor behind has been sent events: the stored watermark, or further in memory. */
export function sentUpTo(store: ConversationStore, memory: PassMemory): number {
  return Math.max(state(store).doneSeq, memory.sentUpTo);
}

/** How far every member not lagging has been sent events: what the stored watermark may move to. */
function durableUpTo(store: ConversationStore, memory: PassMemory): number {
  let upTo = sentUpTo(store, memory);
  for (const { upTo: member } of memory.behind.values()) upTo = Math.min(upTo, member);
  return upTo;
}

/** Writes the watermark passes have moved in memory, if it is ahead: call in a turn that writes anyway. */
export function persistWatermark(store: ConversationStore, memory: PassMemory): void {
  const current = state(store);
  const upTo = durableUpTo(store, memory);
  if (upTo > current.doneSeq) setState(store, { ...current, doneSeq: upTo });
}

/**
 * When fan-out work is next due, or null when there is none, not counting members left
 * behind (`behindDue`: a timer in memory wakes for them, the alarm only a safety interval
 * later, for an eviction: src/conversation/delivery.ts). `members`: every member of a
 * conversation that fans out on write (null on read); when each of them is behind, no
 * pass is due until the first of them is.
 */
export function nextDue(store: ConversationStore, memory: PassMemory, members: readonly string[] | null, now: number): number | null {
  const onWrite = members !== null;
  const { hintedAt, hintAfter } = state(store);
  const doneSeq = sentUpTo(store, memory);
  const candidates: number[] = [];
  const everyoneBehind = onWrite && members.length > 0 && members.every((m) => memory.behind.has(m));
  // A round of hints under way goes on (spaced by the drain); in a conversation that
  // has since shrunk to fan out on write, the events carry what its hints would have.
  if (hintAfter && !onWrite) candidates.push(now);
  else if (doneSeq < log.lastSeq(store) && !everyoneBehind) candidates.push(onWrite ? now : Math.max(now, hintedAt + FANOUT.hintIntervalMs));
  const lag = store.get(LAG_DUE);
  if (lag !== null) candidates.push(lag);
  return candidates.length > 0 ? Math.min(...candidates) : null;
}

/** When the first member left behind is due the rest, or null when none is behind. */
export function behindDue(memory: PassMemory): number | null {
  let first: number | null = null;
  for (const { dueAt } of memory.behind.values()) if (first === null || dueAt < first) first = dueAt;
  return first;
}

/** What a pass did: the most events it sent any member (0: none were due), and how many members it called. */
interface Pass {
  carried: number;
  calls: number;
}

/** What a drain needs from its conversation. */
export interface FanoutTarget {
  store: ConversationStore;
  conversationId: string;
  kind: ConversationKind;
  memberCount: () => number;
  /** Every member: asked only of a conversation that fans out on write (a small one). */
  members: () => string[];
  memberPage: (after: MemberPosition | null, limit: number) => { members: Member[]; next: MemberPosition | null };
  isMember: (userId: string) => boolean;
  /** Whether the member has a chat window open on the conversation (FanoutTuning.watchingIntervalMs). */
  watching: (userId: string) => boolean;
  tuning: FanoutTuning;
  memory: PassMemory;
  /**
   * The events of a page as each member may have them (src/conversation/visibility.ts):
   * rendered in their current state, never raw rows. Returns a function per page so the
   * work shared by every member is done once.
   */
  viewsOf: (events: ConversationEvent[]) => (userId: string) => ConversationEvent[];
  deliver: (userId: string, update: UserUpdate) => Promise<void>;
  /** Counts a pass (its lag) or a failed member call, for operators (src/metrics.ts). */
  record: (metric: Metric) => void;
}

/**
 * Runs fan-out passes while any is due now (or FANOUT.maxPasses), each at least the
 * pass interval after the one before. It ends right after the pass that left nothing
 * due, in that pass's turn; a send meanwhile starts the next drain, spaced from this pass.
 */
export async function drain(target: FanoutTarget): Promise<void> {
  const spacing = target.memory;
  for (let pass = 0; pass < FANOUT.maxPasses; pass++) {
    const count = target.memberCount();
    const onWrite = count <= target.tuning.maxMembersOnWrite;
    const passDue = nextDue(target.store, spacing, onWrite ? target.members() : null, Date.now());
    const due = onWrite ? earliest([passDue, behindDue(spacing)]) : passDue;
    if (due === null || due > Date.now()) return;
    // Passes are spaced so that each carries what built up meanwhile; after a full one
    // the next is already full, and waiting would only let the backlog grow.
    const wait = spacing.carried >= FANOUT.batchEvents ? 0 : spacing.lastAt + passIntervalMs(target.tuning, spacing.calls) - Date.now();
    if (wait > 0) await scheduler.wait(wait);
    spacing.lastAt = Date.now();
    const pass = onWrite ? await sendEvents(target, target.members()) : await sendHints(target);
    spacing.carried = pass.carried;
    spacing.calls = pass.calls;
    await catchUpLagging(target);
  }
}

/** One `events` update per distinct view, shared by the members who see the same. */
function updatesFor(target: FanoutTarget, events: ConversationEvent[], members: string[]): Map<string, UserUpdate> {
  const view = target.viewsOf(events);
  const byView = new Map<ConversationEvent[], UserUpdate>();
  const updates = new Map<string, UserUpdate>();
  for (const userId of members) {
    const seen = view(userId);
    let update = byView.get(seen);
    if (!update) {
      update = { type: 'events', conversationId: target.conversationId, conversationKind: target.kind, events: seen };
      byView.set(seen, update);
    }
    updates.set(userId, update);
  }
  return updates;
}

/**
 * Sends every member due them the events after where they are: the watermark, or their
 * own place when a pass left them behind. A member who is watching and had a call within
 * FanoutTuning.watchingIntervalMs is left behind for now (./fanout.ts `nextDue` says
 * when they are due).
 */
async function sendEvents(target: FanoutTarget, members: string[]): Promise<Pass> {
  const { store, memory } = target;
  const common = sentUpTo(store, memory);
  const lastSeq = log.lastSeq(store);
  const now = Date.now();
  forgetOldCalls(memory, now, target.tuning.watchingIntervalMs);
  const lagging = new Set(store.get(LAG_DUE) === null ? [] : store.sql.exec<{ user_id: string }>('SELECT user_id FROM fanout_lag').toArray().map((r) => r.user_id));
  const behind = new Map<string, Behind>();
  const byStart = new Map<number, string[]>();
  const call = (userId: string, from: number) => {
    const starting = byStart.get(from);
    if (starting) starting.push(userId);
    else byStart.set(from, [userId]);
  };
  const dueAgain: [string, Behind][] = [];
  for (const userId of members) {
    if (lagging.has(userId)) continue;
    const was = memory.behind.get(userId);
    const from = was?.upTo ?? common;
    if (from >= lastSeq) continue;
    const calledAt = memory.calledAt.get(userId);
    // Asked only of a member who may wait: one neither called lately nor behind goes now.
    const watching = (calledAt !== undefined || was !== undefined) && target.watching(userId);
    if (watching && calledAt !== undefined) behind.set(userId, { upTo: from, dueAt: calledAt + target.tuning.watchingIntervalMs });
    else if (watching && was) dueAgain.push([userId, was]);
    else call(userId, from);
  }
  // Watching members due the rest go a quota a pass, those due longest first; the others
  // stay behind, due still, for the next pass (FANOUT.watchingCallsPerPass).
  dueAgain.sort((a, b) => a[1].dueAt - b[1].dueAt);
  const quota = watchingQuota(target.tuning, members.length);
  dueAgain.forEach(([userId, was], i) => (i < quota ? call(userId, was.upTo) : behind.set(userId, was)));
  // Everyone at the watermark moves with its page, sent now or left behind at its start.
  const commonPage = common < lastSeq ? log.after(store, common, FANOUT.batchEvents) : [];
  const newCommon = commonPage.at(-1)?.seq ?? common;
  const pages = [...byStart].map(([from, recipients]) => ({ from, recipients, events: from === common ? commonPage : log.after(store, from, FANOUT.batchEvents) }));
  const calls = pages.flatMap(({ from, recipients, events }) => {
    const updates = updatesFor(target, events, recipients);
    return recipients.map((userId) => ({ userId, from, upTo: events.at(-1)!.seq, update: updates.get(userId)! }));
  });
  if (calls.length === 0) {
    memory.sentUpTo = newCommon;
    memory.behind = behind;
    return { carried: 0, calls: 0 };
  }
  const oldest = Math.min(...pages.map((p) => p.events[0]!.ts));
  target.record({ kind: 'fanout', outcome: 'pass', lagMs: Math.max(0, now - oldest) });
  // A call that carried a full page short of the log is not one to wait after: at more
  // than a page per interval, a watching member would fall ever further behind.
  for (const call of calls) if (call.upTo >= lastSeq) memory.calledAt.set(call.userId, now);
  const results = await Promise.allSettled(calls.map((call) => target.deliver(call.userId, call.update)));
  const answeredAt = Date.now();
  results.forEach((result, i) => {
    const call = calls[i]!;
    if (result.status === 'rejected') {
      target.record({ kind: 'fanout', outcome: 'member_failed' });
      postpone(store, call.userId, call.from, 0, answeredAt, result.reason);
    } else if (call.upTo < newCommon) {
      // A page short of the others' (a long wait behind them): the rest goes next pass.
      behind.set(call.userId, { upTo: call.upTo, dueAt: answeredAt });
    }
  });
  memory.sentUpTo = newCommon;
  memory.behind = behind;
  // A failed member's lag row is a write anyway, and a round of hints cut short (the
  // conversation shrank) must end on disk: the watermark goes with them. Else it waits.
  if (state(store).hintAfter !== null || results.some((r) => r.status === 'rejected')) setState(store, { ...state(store), doneSeq: Math.max(state(store).doneSeq, durableUpTo(store, memory)), hintAfter: null });
  return { carried: Math.max(...pages.map((p) => p.events.length)), calls: calls.length };
}

/** Calls older than the watching interval hold no member back: forgotten, so the map stays small. */
function forgetOldCalls(memory: PassMemory, now: number, intervalMs: number): void {
  for (const [userId, at] of memory.calledAt) if (now - at >= intervalMs) memory.calledAt.delete(userId);
}

/**
 * Sends a page of members an activity hint: the first page of a round, once the interval
 * since the last round has passed and there is activity, else the round's next page.
 * It carries no events: `carried` is 1 when it sent any.
 */
async function sendHints(target: FanoutTarget): Promise<Pass> {
  const { store } = target;
  const current = state(store);
  const lastSeq = log.lastSeq(store);
  const now = Date.now();
  const starting = current.hintAfter === null;
  if (starting && (sentUpTo(store, target.memory) >= lastSeq || now - current.hintedAt < FANOUT.hintIntervalMs)) return { carried: 0, calls: 0 };
  const page = target.memberPage(current.hintAfter, target.tuning.hintBatch);
  // A round is marked done (up to the seq it started at) when it starts; members later in
  // it are hinted with what is newest when their page goes. Nobody waits for events now.
  target.memory.behind.clear();
  setState(store, starting ? { doneSeq: lastSeq, hintedAt: now, hintAfter: page.next } : { ...current, hintAfter: page.next });
  const update: UserUpdate = { type: 'activity', conversationId: target.conversationId, conversationKind: target.kind, seq: lastSeq, ts: now };
  // Hints are best effort: the next one supersedes a lost one, and the list asks the
  // conversation itself for large groups.
  const results = await Promise.allSettled(page.members.map((m) => target.deliver(m.userId, update)));
  const failed = results.filter((r) => r.status === 'rejected').length;
  if (failed > 0) logger.warn('activity_hints_failed', { conversationId: target.conversationId, failed, of: page.members.length });
  return { carried: page.members.length > 0 ? 1 : 0, calls: page.members.length };
}

/** Catches up members whose delivery failed, from their own cursor, while they are due. */
async function catchUpLagging(target: FanoutTarget): Promise<number> {
  const { store } = target;
  const now = Date.now();
  const lagDue = store.get(LAG_DUE);
  if (lagDue === null || lagDue > now) return 0;
  const due = store.sql.exec<LagRow>('SELECT user_id, after_seq, attempts FROM fanout_lag WHERE next_attempt_at <= ?', now).toArray();
  await Promise.all(
    due.map(async (lag) => {
      const events = target.isMember(lag.user_id) ? log.after(store, lag.after_seq, FANOUT.batchEvents) : [];
      const last = events.at(-1);
      if (!last) {
        forgetLag(store, lag.user_id);
        return;
      }
      try {
        const update = updatesFor(target, events, [lag.user_id]).get(lag.user_id)!;
        await target.deliver(lag.user_id, update);
        // Once it has what everyone else has, it rejoins the common pass.
        if (last.seq >= sentUpTo(store, target.memory)) forgetLag(store, lag.user_id);
        else advanceLag(store, lag.user_id, last.seq);
      } catch (err) {
        target.record({ kind: 'fanout', outcome: 'member_failed' });
        postpone(store, lag.user_id, lag.after_seq, lag.attempts + 1, Date.now(), err);
      }
    }),
  );
  return due.length;
}

/** How many members lag behind the watermark (for the queue-depth metric): none without a SQL read when none does. */
export function laggingCount(store: ConversationStore): number {
  return store.get(LAG_DUE) === null ? 0 : store.sql.exec<{ n: number }>('SELECT count(*) AS n FROM fanout_lag').one().n;
}

function forgetLag(store: ConversationStore, userId: string): void {
  store.sql.exec('DELETE FROM fanout_lag WHERE user_id = ?', userId);
  store.forget(LAG_DUE);
}

function advanceLag(store: ConversationStore, userId: string, afterSeq: number): void {
  store.sql.exec('UPDATE fanout_lag SET after_seq = ?, attempts = 0, next_attempt_at = ? WHERE user_id = ?', afterSeq, Date.now(), userId);
  store.forget(LAG_DUE);
}

function postpone(store: ConversationStore, userId: string, afterSeq: number, attempts: number, now: number, err: unknown): void {
  const delay = Math.min(OUTBOX.retryDelayMs * 2 ** attempts, OUTBOX.maxRetryDelayMs);
  store.sql.exec(
    `INSERT INTO fanout_lag (user_id, after_seq, attempts, next_attempt_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (user_id) DO UPDATE SET attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at`,
    userId,
    afterSeq,
    attempts,
    now + delay,
  );
  store.forget(LAG_DUE);
  logger.warn('fanout_member_failed', { userId, attempts, reason: reason(err) });
}
