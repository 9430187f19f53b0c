/**
 * @module relay/readers
 * A relay's sockets: admitting one (only with its conversation's say-so), delivering the
 * conversation's batches to all of them in seq order, catching up by seq when a batch
 * was missed, and closing the sockets of removed members and signed-out devices.
 *
 * What must hold, and how:
 * - Every socket gets every event once, in order. The relay keeps one watermark,
 *   `deliveredSeq` (in SQLite, so it survives eviction); a batch is delivered only from
 *   the watermark on: what is at or below it is dropped, a gap before it is fetched from
 *   the conversation first (`catchUp`). Delivering and moving the watermark happen in one
 *   synchronous step, and a socket is accepted in one too, with `ready.lastSeq` the
 *   watermark: so a socket gets exactly the events after its `ready`.
 * - Calls from the conversation (batches, notices, syncs) run one at a time, in arrival
 *   order, so a removal's batch reaches the removed member before their socket closes.
 * - A notice that arrives while an admission is waiting for the conversation's answer
 *   refuses that admission: the answer may predate the removal.
 */
import type { Env } from '../env.js';
import type { SocketIdentity } from '../auth/accounts.js';
import { fail, type Result } from '../errors.js';
import { CLOSE_CODES, carriesEnvelopes, perDeviceEncoder, type ConversationEvent, type ServerFrame } from '../protocol/index.js';
import { ReaderAttachments, closeQuietly, deviceTag, makeRoomFor, sendFrame, sendText, userTag, type ReaderAttachment } from '../objects/sockets.js';
import { conversationStub } from '../placement.js';
import { record } from '../metrics.js';
import { refuseSocket } from '../conversation/windows.js';
import type { RelayBatch, RelayReport } from '../conversation/relays.js';
import type { RelayViews, Reader } from '../conversation/visibility.js';

export const RELAY_CATCH_UP = {
  /** Pages asked for in one catch-up at most; a relay further behind delivers nothing more and is retried by its conversation. */
  maxPages: 20,
} as const;

interface RelayState {
  conversationId: string;
  index: number;
  deliveredSeq: number;
}

interface Admission {
  reader: Reader;
  /** Set by a notice that arrived while the admission waited. */
  refused: 'conversation_not_found' | 'device_revoked' | null;
}

export class RelayReaders {
  readonly #attachments = new ReaderAttachments();
  /** Admissions waiting for the conversation's answer (notices refuse them). */
  readonly #admitting = new Set<Admission>();
  /** The tail of the calls from the conversation, run one at a time. */
  #queue: Promise<unknown> = Promise.resolve();
  #state: RelayState | null | undefined = undefined;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
  ) {}

  /** The conversation this relay serves, once a socket was admitted (null before). */
  get conversationId(): string | null {
    return this.state()?.conversationId ?? null;
  }

  /**
   * Admits a socket the worker sent here, if its conversation says so (membership and
   * device standing, as for a chat window), and sends it `ready`.
   */
  async open(identity: SocketIdentity, conversationId: string, index: number): Promise<Response> {
    const admission: Admission = { reader: { userId: identity.userId, deviceId: identity.deviceId }, refused: null };
    this.#admitting.add(admission);
    let answer: Result<{ conversationId: string; lastSeq: number }>;
    try {
      answer = await conversationStub(this.env, conversationId).relayAdmit(identity, index);
    } finally {
      this.#admitting.delete(admission);
    }
    if (answer.ok && admission.refused) answer = fail(admission.refused, 'Refused while the conversation was asked.');
    if (!answer.ok) return refuseSocket(answer.error);
    const state = this.state();
    // With no readers there is nobody to catch up for (and the watermark may be far behind): start at the tip.
    if (!state || this.count === 0) this.save({ conversationId, index, deliveredSeq: Math.max(state?.deliveredSeq ?? 0, answer.value.lastSeq) });
    makeRoomFor(this.ctx, identity.deviceId, identity.tier);
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, [userTag(identity.userId), deviceTag(identity.deviceId)]);
    record(this.env, { kind: 'socket', wire: 'chat_ws', delta: 1 });
    const attachment = { userId: identity.userId, deviceId: identity.deviceId };
    this.#attachments.attach(server, attachment);
    sendFrame(server, { type: 'ready', conversationId, ...attachment, lastSeq: this.state()!.deliveredSeq } satisfies ServerFrame);
    return new Response(null, { status: 101, webSocket: client });
  }

  get count(): number {
    return this.ctx.getWebSockets().length;
  }

  attachmentOf(ws: WebSocket): ReaderAttachment | null {
    return this.#attachments.of(ws);
  }

  // ── Calls from the conversation, one at a time ───────────────────────────────

  /** A batch of new events: what it lacks first, then the events past the watermark. */
  deliver(batch: RelayBatch): Promise<RelayReport> {
    return this.serially(async () => {
      await this.catchUp(batch.after);
      this.apply(batch);
    });
  }

  /** A member left or was removed: their sockets close (after the batches before this notice). */
  closeUser(userId: string): Promise<RelayReport> {
    for (const admission of this.#admitting) if (admission.reader.userId === userId) admission.refused = 'conversation_not_found';
    return this.serially(() => this.closeUserNow(userId));
  }

  /** A device was signed out: its sockets close. */
  closeDevice(userId: string, deviceId: string): Promise<RelayReport> {
    for (const admission of this.#admitting) if (admission.reader.deviceId === deviceId) admission.refused = 'device_revoked';
    return this.serially(() => this.closeDeviceNow(userId, deviceId));
  }

  /**
   * After a call here failed: catch up to `upTo`, and close the sockets of readers the
   * conversation no longer admits (a notice may have been the call that failed).
   */
  sync(upTo: number): Promise<RelayReport> {
    return this.serially(async () => {
      const state = this.state();
      if (!state || this.count === 0) return;
      // Readers first: what the catch-up delivers must not reach one who may no longer read.
      const readers = new Map<string, Reader>();
      for (const ws of this.ctx.getWebSockets()) {
        const reader = this.attachmentOf(ws);
        if (reader) readers.set(reader.deviceId, reader);
      }
      const refused = await conversationStub(this.env, state.conversationId).relayCheck([...readers.values()]);
      for (const reader of refused) {
        if (reader.code === 'device_revoked') this.closeDeviceNow(reader.userId, reader.deviceId);
        else this.closeUserNow(reader.userId);
      }
      await this.catchUp(upTo);
    });
  }

  // ── Internals ────────────────────────────────────────────────────────────────

  /** Runs `fn` after every call before it; answers how many sockets this relay holds. */
  private serially(fn: () => Promise<void> | void): Promise<RelayReport> {
    const run = this.#queue.then(fn).then(() => ({ sockets: this.count }));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  private closeUserNow(userId: string): void {
    for (const ws of this.ctx.getWebSockets(userTag(userId))) closeQuietly(ws, CLOSE_CODES.forbidden, 'You are no longer a member of this conversation.');
  }

  private closeDeviceNow(userId: string, deviceId: string): void {
    for (const ws of this.ctx.getWebSockets(userTag(userId))) {
      if (this.attachmentOf(ws)?.deviceId === deviceId) closeQuietly(ws, CLOSE_CODES.deviceRevoked, 'This device has been signed out.');
    }
  }

  /** Fetches from the conversation what lies between the watermark and `upTo`, delivering it as it comes. */
  private async catchUp(upTo: number): Promise<void> {
    for (let pages = 0; pages < RELAY_CATCH_UP.maxPages; pages++) {
      const state = this.state();
      if (!state || state.deliveredSeq >= upTo) return;
      const page = await conversationStub(this.env, state.conversationId).relayPage(state.deliveredSeq);
      if (page.events.length === 0) return;
      this.apply({ conversationId: state.conversationId, after: state.deliveredSeq, events: page.events, exceptions: page.exceptions });
    }
    throw new Error(`relay still behind after ${RELAY_CATCH_UP.maxPages} pages`);
  }

  /**
   * Delivers the events past the watermark and moves it, in one synchronous step. Throws
   * on a gap (the conversation then retries this relay, which catches up first).
   */
  private apply(batch: RelayBatch): void {
    const state = this.state();
    if (!state) return;
    const fresh = (events: ConversationEvent[]) => events.filter((e) => e.seq > state.deliveredSeq);
    const events = fresh(batch.events);
    const first = events[0];
    if (!first) return;
    if (first.seq !== state.deliveredSeq + 1 || events.some((e, i) => e.seq !== first.seq + i)) {
      throw new Error(`relay gap: delivered ${state.deliveredSeq}, batch ${events.map((e) => e.seq).join(',').slice(0, 80)}`);
    }
    this.broadcast(batch.conversationId, { events, exceptions: Object.fromEntries(Object.entries(batch.exceptions).map(([id, own]) => [id, fresh(own)])) });
    this.save({ ...state, deliveredSeq: events.at(-1)!.seq });
  }

  /**
   * One `events` frame per socket: the shared text, or the reader's own view where it
   * differs. End-to-end encrypted envelopes differ per device (each gets its own entry,
   * src/protocol/envelopes.ts: the rule the conversation applies to its own windows), so a
   * batch carrying them gets a text per socket (`perDeviceEncoder`: encoded once, each
   * device's own entries spliced in).
   */
  private broadcast(conversationId: string, views: RelayViews): void {
    const frame = (events: ConversationEvent[]) => ({ type: 'events', conversationId, events }) satisfies ServerFrame;
    const sealed = carriesEnvelopes(views.events) || Object.values(views.exceptions).some(carriesEnvelopes);
    const shared = sealed ? perDeviceEncoder(frame(views.events)) : JSON.stringify(frame(views.events));
    for (const ws of this.ctx.getWebSockets()) {
      const reader = this.attachmentOf(ws);
      if (!reader) continue;
      const own = views.exceptions[reader.userId];
      if (typeof shared === 'function') sendText(ws, own ? perDeviceEncoder(frame(own))(reader) : shared(reader));
      else sendText(ws, own ? JSON.stringify(frame(own)) : shared);
    }
  }

  private state(): RelayState | null {
    if (this.#state === undefined) {
      const row = this.ctx.storage.sql
        .exec<{ conversation_id: string; idx: number; delivered_seq: number }>('SELECT conversation_id, idx, delivered_seq FROM relay_state WHERE id = 1')
        .toArray()[0];
      this.#state = row ? { conversationId: row.conversation_id, index: row.idx, deliveredSeq: row.delivered_seq } : null;
    }
    return this.#state;
  }

  private save(state: RelayState): void {
    this.ctx.storage.sql.exec(
      `INSERT INTO relay_state (id, conversation_id, idx, delivered_seq) VALUES (1, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET delivered_seq = excluded.delivered_seq`,
      state.conversationId,
      state.index,
      state.deliveredSeq,
    );
    this.#state = state;
  }
}
