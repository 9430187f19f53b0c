/**
 * @module conversation/send
 * The send path: who may send, idempotency by (sender, cmid), the limits and the content
 * filter, then seq = last + 1, all in one synchronous step so nothing interleaves inside
 * a send. The caller answers with the ack, which the output gate holds until the write is
 * durable. Used by the chat windows' `send` frames and by HTTP sends alike.
 *
 * Two things may be awaited first: the device's standing (the first time it sends here)
 * and a lease of the sender's allowance from their UserDO (./allowance.ts). Each await
 * lets other work run, so every check runs again after it, inside the synchronous step.
 */
import type { Env } from '../env.js';
import { AppError, attempt, attemptAsync, fail, ok, type Result } from '../errors.js';
import { mediaIdsOf, type Ack, type ConversationEvent, type Member, type MessageContent } from '../protocol/index.js';
import { messageRules, type Tier } from '../ratelimit/rules.js';
import { assertAcceptable, filterConfig, filterableText, isRepeatCandidate, textHash, type FilterConfig } from '../moderation/filter.js';
import { SendAllowance, SenderWindows, report } from './allowance.js';
import * as blocks from './blocks.js';
import { assertContentFits } from './envelopes.js';
import * as lifecycle from './lifecycle.js';
import * as eventLog from './log.js';
import * as media from './media.js';
import { assertCanPost } from './members.js';
import { requireMeta } from './meta.js';
import type { DeviceStandings } from './standing.js';
import type { ConversationStore } from './store.js';
import { admit, type Reader } from './visibility.js';

/** A send needs a new lease first; thrown by `accept`, caught by `send`. */
class NeedsLease extends Error {}

export interface SendRequest {
  cmid: string;
  content: MessageContent;
  replyToSeq?: number | undefined;
}

export class SendPipeline {
  /** Per-user send allowance leased from UserDOs (memory only: see ./allowance.ts). */
  readonly #allowance = new SendAllowance();
  /** The per-conversation message limit's windows (memory only: see ./allowance.ts). */
  readonly #senders: SenderWindows;
  /** Leases being fetched, per user, so concurrent sends share one request. */
  readonly #leasing = new Map<string, Promise<void>>();
  /** The content filter, built from the environment once per instance. */
  #filter: FilterConfig | null = null;

  constructor(
    private readonly store: ConversationStore,
    private readonly env: Env,
    private readonly standings: DeviceStandings,
    /** Shows accepted events to the open windows and held feed reads. */
    private readonly announce: (events: ConversationEvent[]) => void,
    /** Writes what waits for the conversation's next write (the fan-out watermark, ./fanout.ts), with the message. */
    private readonly writePending: () => void,
  ) {
    this.#senders = new SenderWindows(store);
  }

  /**
   * Accepts one message, or says why not. A failure of a callee (the UserDO's lease, its
   * standing) rejects: the caller answers `internal`, and a retry with the same cmid is
   * safe.
   */
  async send(reader: Reader, request: SendRequest): Promise<Result<Ack>> {
    const standing = await attemptAsync(() => this.standings.require(reader));
    if (!standing.ok) return standing;
    const tier = standing.value;
    for (let round = 0; ; round++) {
      if (this.#allowance.needsLease(reader.userId, Date.now())) {
        const early = attempt(() => this.precheck(reader, tier, request));
        if (!early.ok) return early;
        if (early.value) return ok(early.value);
        await this.lease(reader.userId, tier, request.content);
      }
      try {
        return attempt(() => this.accept(reader, tier, request));
      } catch (err) {
        if (!(err instanceof NeedsLease)) throw err;
        if (round >= 3) return fail('rate_limited', 'Too many messages at once; try again.', { retryAfterMs: 1_000 });
      }
    }
  }

  /** The user's sends here within `windowMs` (and their recent texts unless end-to-end encrypted), for their UserDO. */
  sentReport(userId: string, windowMs: number) {
    return report(this.store, userId, Date.now(), windowMs, this.filter());
  }

  /** Synchronous, so nothing interleaves: checks (again), then seq = last + 1. */
  private accept(reader: Reader, tier: Tier, request: SendRequest): Ack {
    const { cmid, replyToSeq } = request;
    const existing = this.precheck(reader, tier, request);
    if (existing) return existing;
    const stored = media.resolve(this.store.sql, reader.userId, request.content);
    // Last, so a send refused for any other reason spends nothing.
    const token = this.#allowance.take(reader.userId, Date.now());
    if (token.kind === 'lease') throw new NeedsLease();
    if (token.kind === 'denied') {
      throw new AppError('rate_limited', 'Too many messages across your conversations; wait before sending more.', { retryAfterMs: token.retryAfterMs });
    }
    const replyTo = replyToSeq === undefined ? {} : { replyTo: { seq: replyToSeq } };
    const author = { userId: reader.userId, deviceId: reader.deviceId };
    const write = () => {
      this.writePending();
      const appended = eventLog.appendUnlessSent(this.store, { type: 'message', ts: Date.now(), author, cmid, content: stored, ...replyTo });
      if (appended) media.markReferenced(this.store.sql, stored, appended.seq);
      return appended;
    };
    // A text message is one statement, atomic by itself; media adds the references' rows.
    const event = mediaIdsOf(stored).length > 0 ? this.store.transaction(write) : write();
    if (!event) {
      // A resend that passed every check again: the first send's ack, and the token back.
      this.#allowance.refund(reader.userId);
      return eventLog.findAckByCmid(this.store.sql, reader.userId, cmid)!;
    }
    this.#senders.record(reader.userId, event.ts);
    // Search indexing is not here: the fan-out pass indexes in batches (search.catchUp).
    if (event.type === 'message') this.announce([lifecycle.renderNew(this.store.sql, event)]);
    return { cmid, seq: event.seq, ts: event.ts, duplicate: false };
  }

  /**
   * Every check of a send but the allowance: the reader (member, device in standing),
   * who may post (broadcast channels), blocks, the per-conversation limit, the content
   * filter, the reply target and media references. Run before a lease is asked for too,
   * so a send refused anyway never costs one.
   *
   * Idempotency: a resend of a stored message gets the first send's ack even when a check
   * would refuse it now (over the limit, say), so a refusal first looks the cmid up. A send
   * that passes learns whether it is a resend from its insert (`appendUnlessSent`), which
   * spares every new send a look-up.
   */
  private precheck(reader: Reader, tier: Tier, request: SendRequest): Ack | null {
    const poster = admit(this.store, this.standings, reader);
    try {
      this.checkSend(reader, poster, tier, request);
      return null;
    } catch (err) {
      const existing = eventLog.findAckByCmid(this.store.sql, reader.userId, request.cmid);
      if (existing) return existing;
      throw err;
    }
  }

  private checkSend(reader: Reader, poster: Member, tier: Tier, request: SendRequest): void {
    const meta = requireMeta(this.store);
    assertCanPost(meta.broadcast, poster);
    blocks.assertMayWrite(this.store, meta, reader.userId);
    assertContentFits(this.store, meta, reader, request.content);
    const perConversation = this.#senders.decide(reader.userId, messageRules(tier, this.env).conversationMessages, Date.now());
    if (!perConversation.allowed) {
      throw new AppError('rate_limited', 'Too many messages in this conversation; wait before sending more.', { retryAfterMs: perConversation.retryAfterMs });
    }
    const filter = this.filter();
    const text = filterableText(request.content);
    if (filter && text !== null) assertAcceptable(text, filter, this.#allowance.repeated(reader.userId));
    if (request.replyToSeq !== undefined) lifecycle.checkReplyTarget(this.store.sql, request.replyToSeq);
    media.resolve(this.store.sql, reader.userId, request.content);
  }

  /** Asks the user's UserDO for a lease: no more than the per-conversation limit still allows here. */
  private lease(userId: string, tier: Tier, content: MessageContent): Promise<void> {
    const pending = this.#leasing.get(userId);
    if (pending) return pending;
    const request = (async () => {
      const rules = messageRules(tier, this.env);
      const filter = this.filter();
      const now = Date.now();
      const mine = report(this.store, userId, now, rules.userMessages.windowMs, filter);
      const text = filter ? filterableText(content) : null;
      if (filter && text !== null && isRepeatCandidate(text, filter)) mine.texts.push({ hash: textHash(text), at: now });
      const grant = await this.env.USERS.getByName(userId).leaseSends({
        conversationId: requireMeta(this.store).id,
        ...mine,
        rule: rules.userMessages,
        want: this.#senders.remaining(userId, rules.conversationMessages, now),
        repeat: filter?.repeat ?? { maxConversations: Number.MAX_SAFE_INTEGER, windowMs: 0 },
      });
      this.#allowance.record(userId, grant, Date.now());
    })().finally(() => this.#leasing.delete(userId));
    this.#leasing.set(userId, request);
    return request;
  }

  /** The content filter, or null when the conversation is end-to-end encrypted (ciphertext is never inspected). */
  private filter(): FilterConfig | null {
    if (requireMeta(this.store).encrypted) return null;
    this.#filter ??= filterConfig(this.env);
    return this.#filter;
  }
}
