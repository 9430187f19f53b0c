/**
 * @module conversation/relays
 * Live delivery of a large conversation through relay objects (src/relay/RelayDO.ts).
 * Posting stays here (one writer, one seq); the live readers' sockets are spread over
 * relays, each holding at most `maxSockets`, and each relay gets every batch of new
 * events in one call, whatever its audience. So the conversation's cost per message is
 * one call per relay per batch, not a send per socket.
 *
 * - Which relay: a conversation with at least `minMembers` members sends a new chat
 *   window's upgrade to a relay (`assign`), chosen by a hash of the device id among the
 *   relays it has, the next one with room if that is full, a new one if all are.
 * - Admission: the relay asks here before it accepts a socket (`ConversationDO.relayAdmit`),
 *   with the same check a window gets (windows.admitSocket); removals and sign-outs are
 *   told to every relay (`notify`), which closes those sockets.
 * - Order and catch-up: one call per relay in flight, so calls arrive in order, and
 *   batches that pile up behind a busy relay go as one. A batch says which seq it
 *   follows. A relay that missed one (it
 *   was evicted, or a call failed) asks for what it lacks by seq (`page`) before it
 *   delivers more. A relay whose call failed is retried from the alarm (`retryDue`), so a
 *   conversation that went quiet still brings it up to date.
 *
 * Events go out through the one delivery rule (./visibility.ts, `relayViews`). Relays
 * carry events only: typing, presence and receipts stay with the windows held here
 * (an audience this large has no use for them, and they would cost a call each).
 */
import { ok, fail, type Result } from '../errors.js';
import { log, reason } from '../log.js';
import type { ConversationEvent } from '../protocol/index.js';
import { EventBatcher } from './batcher.js';
import * as eventLog from './log.js';
import { memberCount } from './members.js';
import { loadMeta, requireMeta } from './meta.js';
import { OUTBOX } from './outbox.js';
import { fact, type ConversationStore } from './store.js';
import { relayViews, type Reader, type RelayViews } from './visibility.js';

export const RELAY = {
  /** Relays per conversation at most, so maxRelays x maxSockets live readers. */
  maxRelays: 500,
  /** Batches go to the relays at most this often; what arrives meanwhile waits and goes in one call. */
  batchIntervalMs: 5,
  /** Most events a relay catching up gets per call (as FANOUT.batchEvents: within an RPC's size). */
  pageEvents: 250,
} as const;

/** The relay tier as settings: production defaults below, overridden per deployment by variables. */
export interface RelayTuning {
  /** RELAY_MIN_MEMBERS: conversations with at least this many members put their live readers on relays. */
  minMembers: number;
  /** RELAY_MAX_SOCKETS: sockets one relay holds at most. Small values spread a test's few sockets over several relays. */
  maxSockets: number;
}

export const RELAY_DEFAULTS: RelayTuning = {
  // Below this a conversation's own sockets are cheap: its broadcast batcher coalesces
  // frames past a few hundred sockets (./batcher.ts). docs/SCALING.md, "The relay tier".
  minMembers: 250,
  // Well under what one object's thread can write a frame to per batch (docs/BENCHMARKS.md).
  maxSockets: 2_000,
};

export function relayTuning(env: { RELAY_MIN_MEMBERS?: string | undefined; RELAY_MAX_SOCKETS?: string | undefined }): RelayTuning {
  return { minMembers: positive(env.RELAY_MIN_MEMBERS, RELAY_DEFAULTS.minMembers), maxSockets: positive(env.RELAY_MAX_SOCKETS, RELAY_DEFAULTS.maxSockets) };
}

function positive(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && value !== '' && Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

/** The relay object's name: one namespace, named by conversation and index. */
export function relayName(conversationId: string, index: number): string {
  return `${conversationId}/relay/${index}`;
}

/** One call to a relay: the events after `after`, as its readers may have them. */
export interface RelayBatch extends RelayViews {
  conversationId: string;
  after: number;
}

/** A page for a relay catching up, and the log's tip. */
export interface RelayPage extends RelayViews {
  lastSeq: number;
}

/** A reader of a relay who may no longer read: a member no more, or a device signed out. */
export interface RelayRefusal extends Reader {
  code: 'conversation_not_found' | 'device_revoked';
}

/** What a relay answers every call with, so the conversation knows how full it is. */
export interface RelayReport {
  sockets: number;
}

/** What the conversation calls on a relay (RelayDO's RPC methods). */
export interface RelayStub {
  deliver(batch: RelayBatch): Promise<RelayReport>;
  closeUser(userId: string): Promise<RelayReport>;
  closeDevice(userId: string, deviceId: string): Promise<RelayReport>;
  sync(upTo: number): Promise<RelayReport>;
}

interface RelayRow {
  /** Sockets it holds, as last reported (plus those sent to it since): for choosing one with room, never for leaving one out. */
  sockets: number;
  /** Failed calls in a row (0: up to date). */
  attempts: number;
  /** When to call it again after a failure, or null. */
  retryAt: number | null;
}

/** Every relay of the conversation, by index (few: one per `maxSockets` readers). */
export const RELAYS = fact<Map<number, RelayRow>>('relays', (sql) => {
  const rows = sql.exec<{ idx: number; sockets: number; attempts: number; retry_at: number | null }>('SELECT idx, sockets, attempts, retry_at FROM relays');
  return new Map([...rows].map((r) => [r.idx, { sockets: r.sockets, attempts: r.attempts, retryAt: r.retry_at }]));
});

/** A call to a relay waiting its turn: a batch (consecutive ones go as one call), or any other call. */
type Job = RelayBatch | ((relay: RelayStub) => Promise<RelayReport>);

/** Per relay: the jobs waiting, and the drain sending them, one call at a time. */
interface Lane {
  waiting: Job[];
  running: Promise<void> | null;
}

export class Relays {
  readonly #batcher = new EventBatcher((events) => this.sendBatch(events));
  readonly #lanes = new Map<number, Lane>();

  constructor(
    private readonly store: ConversationStore,
    private readonly ctx: DurableObjectState,
    private readonly tuning: RelayTuning,
    private readonly stubOf: (index: number) => RelayStub,
    /** Sets the alarm for the earliest deadline (./wake.ts), which includes `dueAt`. */
    private readonly schedule: () => Promise<void>,
  ) {}

  /** The relay that takes `reader`'s socket, or null when this conversation holds its own windows. */
  assign(reader: Reader): Result<number | null> {
    if (memberCount(this.store) < this.tuning.minMembers) return ok(null);
    const relays = this.store.get(RELAYS);
    const count = relays.size;
    const start = count === 0 ? 0 : hash(reader.deviceId) % count;
    for (let i = 0; i < count; i++) {
      const index = (start + i) % count;
      if (relays.get(index)!.sockets < this.tuning.maxSockets) return ok(this.reserve(index));
    }
    if (count >= RELAY.maxRelays) return fail('rate_limited', 'This conversation has as many live readers as it can take; read its history, or try again later.', { retryAfterMs: 30_000 });
    return ok(this.reserve(count));
  }

  /** Whether `index` is one of this conversation's relays (a relay admits only for those). */
  has(index: number): boolean {
    return this.store.get(RELAYS).has(index);
  }

  /** New events, to every relay (batched). */
  broadcast(events: ConversationEvent[]): void {
    if (this.store.get(RELAYS).size > 0) this.#batcher.add(events, RELAY.batchIntervalMs);
  }

  /** Sends what waits now: before a notice, so a relay gets events and notices in the order they happened. */
  flush(): void {
    this.#batcher.flush();
  }

  /** A member left or was removed: every relay closes their sockets (after the batch with their removal). */
  closeUser(userId: string): void {
    this.notify((relay) => relay.closeUser(userId));
  }

  /** A device was signed out: every relay closes its sockets. */
  closeDevice(userId: string, deviceId: string): void {
    this.notify((relay) => relay.closeDevice(userId, deviceId));
  }

  /** Events after `after` for a relay catching up, read back from the log through the delivery rule. */
  page(after: number): RelayPage {
    const events = eventLog.page(this.store.sql, { after, limit: RELAY.pageEvents }).events;
    return { ...relayViews(this.store, events, false), lastSeq: eventLog.lastSeq(this.store) };
  }

  /**
   * For a fresh instance: a batch the last one held for ≤ RELAY.batchIntervalMs died with
   * it (an eviction, a restart). Each relay is told the tip, and fetches what it lacks;
   * one that has it all does nothing.
   */
  resume(): void {
    const meta = loadMeta(this.store);
    const relays = this.store.get(RELAYS);
    if (!meta || relays.size === 0) return;
    const tip: RelayBatch = { conversationId: meta.id, after: eventLog.lastSeq(this.store), events: [], exceptions: {} };
    for (const index of relays.keys()) this.ctx.waitUntil(this.enqueue(index, tip));
  }

  /** When a relay whose call failed is next retried, or null. */
  dueAt(): number | null {
    let next: number | null = null;
    for (const row of this.store.get(RELAYS).values()) if (row.retryAt !== null && (next === null || row.retryAt < next)) next = row.retryAt;
    return next;
  }

  /** From the alarm: relays whose call failed are brought up to date (events, and who may still read). */
  async retryDue(): Promise<void> {
    const now = Date.now();
    const upTo = eventLog.lastSeq(this.store);
    const due = [...this.store.get(RELAYS)].filter(([, row]) => row.retryAt !== null && row.retryAt <= now);
    await Promise.all(due.map(([index]) => this.enqueue(index, (relay) => relay.sync(upTo))));
  }

  private reserve(index: number): number {
    const row = this.store.get(RELAYS).get(index) ?? { sockets: 0, attempts: 0, retryAt: null };
    this.save(index, { ...row, sockets: row.sockets + 1 });
    return index;
  }

  private sendBatch(events: ConversationEvent[]): void {
    const first = events[0];
    if (!first) return;
    const batch: RelayBatch = { conversationId: requireMeta(this.store).id, after: first.seq - 1, ...relayViews(this.store, events, true) };
    // Every relay, even one that last said it was empty: a count cannot include a reader
    // still on its way, and a relay left out would starve it. An empty relay's call is cheap.
    for (const index of this.store.get(RELAYS).keys()) this.ctx.waitUntil(this.enqueue(index, batch));
  }

  private notify(send: (relay: RelayStub) => Promise<RelayReport>): void {
    this.flush();
    for (const index of this.store.get(RELAYS).keys()) this.ctx.waitUntil(this.enqueue(index, send));
  }

  /**
   * Queues a call to a relay behind the ones before it. One call per relay is in flight:
   * so calls arrive in the order they were made, and batches that pile up behind a slow
   * relay go to it as one call. Resolves once the job was sent (or failed); never rejects.
   */
  private enqueue(index: number, job: Job): Promise<void> {
    let lane = this.#lanes.get(index);
    if (!lane) {
      lane = { waiting: [], running: null };
      this.#lanes.set(index, lane);
    }
    lane.waiting.push(job);
    // Behind a slow relay, what waits is bounded: past a page of events the batches are
    // dropped for the seq they reach, and the relay fetches them from the log.
    if (waitingEvents(lane) > RELAY.pageEvents) lane.waiting = lane.waiting.map((j) => (typeof j === 'function' ? j : tipOf(j)));
    lane.running ??= this.drain(index, lane).finally(() => {
      lane.running = null;
    });
    return lane.running;
  }

  /** Sends a lane's jobs until none waits: each turn takes every batch waiting (as one), else one other call. */
  private async drain(index: number, lane: Lane): Promise<void> {
    while (lane.waiting.length > 0) {
      const first = lane.waiting[0]!;
      if (typeof first === 'function') {
        lane.waiting.shift();
        await this.call(index, first);
        continue;
      }
      const count = lane.waiting.findIndex((job) => typeof job === 'function');
      const batch = merge(lane.waiting.splice(0, count < 0 ? lane.waiting.length : count) as RelayBatch[]);
      const upTo = batch.events.at(-1)?.seq ?? batch.after;
      // A relay whose last call failed may have missed a notice: it checks its readers
      // before it gets more (`sync`, which fetches these events from the log).
      await this.call(index, (relay) => (this.store.get(RELAYS).get(index)!.attempts > 0 ? relay.sync(upTo) : relay.deliver(batch)));
    }
  }

  /** One call to a relay; never rejects. A failure is retried from the alarm (`sync` catches it up). */
  private async call(index: number, send: (relay: RelayStub) => Promise<RelayReport>): Promise<void> {
    try {
      const report = await send(this.stubOf(index));
      const row = this.store.get(RELAYS).get(index);
      if (row && (row.sockets !== report.sockets || row.attempts > 0)) this.save(index, { sockets: report.sockets, attempts: 0, retryAt: null });
    } catch (err) {
      const row = this.store.get(RELAYS).get(index) ?? { sockets: 0, attempts: 0, retryAt: null };
      const attempts = row.attempts + 1;
      this.save(index, { ...row, attempts, retryAt: Date.now() + Math.min(OUTBOX.retryDelayMs * 2 ** (attempts - 1), OUTBOX.maxRetryDelayMs) });
      log.warn('relay_call_failed', { relay: index, attempts, reason: reason(err) });
      await this.schedule();
    }
  }

  private save(index: number, row: RelayRow): void {
    this.store.sql.exec(
      `INSERT INTO relays (idx, sockets, attempts, retry_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (idx) DO UPDATE SET sockets = excluded.sockets, attempts = excluded.attempts, retry_at = excluded.retry_at`,
      index,
      row.sockets,
      row.attempts,
      row.retryAt,
    );
    this.store.get(RELAYS).set(index, row);
  }
}

function waitingEvents(lane: Lane): number {
  return lane.waiting.reduce((n, job) => n + (typeof job === 'function' ? 0 : job.events.length), 0);
}

/** A batch without its events: "the log reaches here", for the relay to fetch. */
function tipOf(batch: RelayBatch): RelayBatch {
  return { conversationId: batch.conversationId, after: batch.events.at(-1)?.seq ?? batch.after, events: [], exceptions: {} };
}

/** Consecutive batches as one: the events in order, and each differing reader's view across all of them. */
function merge(batches: RelayBatch[]): RelayBatch {
  if (batches.length === 1) return batches[0]!;
  // Tips say how far the log reaches; the events after the last one follow it without a gap.
  const lastTip = batches.findLastIndex((b) => b.events.length === 0);
  if (lastTip > 0) return merge(batches.slice(lastTip));
  const exceptions: Record<string, ConversationEvent[]> = {};
  for (const userId of new Set(batches.flatMap((b) => Object.keys(b.exceptions)))) exceptions[userId] = batches.flatMap((b) => b.exceptions[userId] ?? b.events);
  return { conversationId: batches[0]!.conversationId, after: batches[0]!.after, events: batches.flatMap((b) => b.events), exceptions };
}

/** FNV-1a: a stable spread of device ids over relays. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
