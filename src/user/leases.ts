/**
 * @module user/leases
 * The per-user message allowance, leased to conversations (src/ratelimit/allowance.ts
 * decides; ./allowance.ts stores). Decisions run one at a time: settling an expired lease
 * awaits its conversation, and two decisions interleaved there could grant the same tokens.
 */
import type { Env } from '../env.js';
import { log, reason } from '../log.js';
import { grantLease, needsSettling, type LeaseGrant, type LeaseRequest, type SendReport } from '../ratelimit/allowance.js';
import type { WindowRule } from '../ratelimit/sliding-window.js';
import * as allowance from './allowance.js';
import type { UserStore } from './store.js';
import { conversationStub } from '../placement.js';

export class Leases {
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: UserStore,
    private readonly env: Env,
  ) {}

  /**
   * A conversation asks for a lease, reporting what the user sent there. Leases of other
   * conversations that have expired are settled first by asking those conversations what
   * was really sent.
   */
  lease(request: LeaseRequest): Promise<LeaseGrant> {
    const decision = this.#queue.then(() => this.decide(request));
    this.#queue = decision.catch(() => undefined);
    return decision;
  }

  private async decide(request: LeaseRequest): Promise<LeaseGrant> {
    const sql = this.store.sql;
    const now = Date.now();
    allowance.forgetOlderThan(sql, now - Math.max(request.rule.windowMs, request.repeat.windowMs));
    const others = allowance.load(sql).filter((r) => r.conversationId !== request.conversationId);
    const settled = await Promise.all(others.map((r) => (needsSettling(r, now) ? this.settle(r, request.rule) : r)));
    const at = Date.now();
    const grant = grantLease(settled, request, at);
    const refused = 'retryAfterMs' in grant;
    allowance.save(sql, {
      conversationId: request.conversationId,
      hits: request.hits,
      texts: request.texts,
      leaseTokens: refused ? 0 : grant.granted,
      leaseExpiresAt: refused ? at : grant.expiresAt,
    });
    return grant;
  }

  /** Replaces an expired lease by what its conversation's log says was sent; if it cannot answer, every token counts as spent at expiry. */
  private async settle(report: SendReport, rule: WindowRule): Promise<SendReport> {
    let fresh: SendReport;
    try {
      const sent = await conversationStub(this.env, report.conversationId).sendReport(this.store.userId, rule.windowMs);
      fresh = { ...report, hits: sent.hits, texts: sent.texts, leaseTokens: 0 };
    } catch (err) {
      log.warn('lease_settle_failed', { userId: this.store.userId, conversationId: report.conversationId, reason: reason(err) });
      // More than `limit` sends at one instant decide nothing more than `limit` do.
      const spent = Array<number>(Math.min(report.leaseTokens, rule.limit)).fill(report.leaseExpiresAt);
      fresh = { ...report, hits: [...report.hits, ...spent], leaseTokens: 0 };
    }
    allowance.save(this.store.sql, fresh);
    return fresh;
  }
}
