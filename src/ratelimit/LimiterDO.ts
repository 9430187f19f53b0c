/**
 * @module ratelimit/LimiterDO
 * One object per rate-limit key that no other object owns: a client address, a handle
 * under login attempts, a device asking for connect tickets. Per-user and
 * per-conversation message limits live in the UserDO and ConversationDO instead, next to
 * the state they protect.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../env.js';
import { migrate } from '../storage/migrate.js';
import { decide, type Decision, type WindowRule } from './sliding-window.js';
import { loginBackoffMs } from './rules.js';

const MIGRATIONS = [
  [
    'CREATE TABLE hits (at INTEGER NOT NULL)',
    'CREATE INDEX hits_by_time ON hits (at)',
    // Consecutive failed logins and the last one's time, for the login backoff.
    'CREATE TABLE failures (id INTEGER PRIMARY KEY CHECK (id = 1), count INTEGER NOT NULL, last_at INTEGER NOT NULL)',
  ],
] as const;

export class LimiterDO extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(ctx.storage, MIGRATIONS);
  }

  /** For the readiness check (`/readyz`): the object answers, its storage migrated. */
  async ping(): Promise<true> {
    return true;
  }

  /** Records one hit if the rule allows it. */
  async take(rule: WindowRule): Promise<Decision> {
    const now = Date.now();
    this.sql.exec('DELETE FROM hits WHERE at <= ?', now - rule.windowMs);
    const hits = this.sql.exec<{ at: number }>('SELECT at FROM hits ORDER BY at').toArray().map((r) => r.at);
    const decision = decide(hits, now, rule);
    if (decision.allowed) this.sql.exec('INSERT INTO hits (at) VALUES (?)', now);
    return decision;
  }

  /** Whether a login may be tried now, given the failures so far. */
  async loginAllowed(): Promise<Decision> {
    const row = this.sql.exec<{ count: number; last_at: number }>('SELECT count, last_at FROM failures').toArray()[0];
    if (!row) return { allowed: true };
    const wait = row.last_at + loginBackoffMs(row.count) - Date.now();
    return wait > 0 ? { allowed: false, retryAfterMs: wait } : { allowed: true };
  }

  async loginFailed(): Promise<void> {
    this.sql.exec(
      'INSERT INTO failures (id, count, last_at) VALUES (1, 1, ?) ON CONFLICT (id) DO UPDATE SET count = count + 1, last_at = excluded.last_at',
      Date.now(),
    );
  }

  async loginSucceeded(): Promise<void> {
    this.sql.exec('DELETE FROM failures');
  }
}
