/**
 * @module user/devices
 * Device standing: the UserDO is the authority for "is this device signed in, and on
 * which tier". It keeps every device of the account (made, revoked) and the account facts
 * the tier depends on (age, operator trust, recent distinct reporters), and answers from
 * its own storage. D1 is read only:
 * - once for a device it does not know yet (accounts made before it kept devices, or a
 *   device whose creation it was not told of), imported with `deviceStanding`;
 * - for the account facts, at most once per ACCOUNT_FACTS_REFRESH_MS, so an operator's
 *   change to `users.trust` lands within it. Reports reach it at once (`noteReport`).
 */
import { REPUTATION, tierOf, type Tier } from '../ratelimit/rules.js';
import { accountFacts, deviceStanding, type AccountFacts } from '../auth/accounts.js';
import { log, reason } from '../log.js';
import type { UserStore } from './store.js';

/** Account facts (age, trust, reports) are re-read from D1 at most this often. */
export const ACCOUNT_FACTS_REFRESH_MS = 10 * 60_000;
/** After a failed re-read, the facts already held serve this long before D1 is tried again. */
export const ACCOUNT_FACTS_RETRY_MS = 30_000;
/** D1 and this object's clocks may differ a little: a re-read also looks this far back for revocations. */
const CLOCK_MARGIN_MS = 60_000;

export interface Standing {
  active: boolean;
  tier: Tier;
}

interface AccountRow {
  created_at: number;
  trust: string | null;
  read_at: number;
  [key: string]: SqlStorageValue;
}

export class Devices {
  /** The D1 read in flight, shared by every request that needs it. */
  #refreshing: Promise<void> | null = null;
  #imports = new Map<string, Promise<void>>();
  /** After a failed re-read: not before this (memory only; a new instance simply tries). */
  #retryAt = 0;

  constructor(
    private readonly store: UserStore,
    private readonly db: D1Database,
    /** Devices found revoked in D1 by a re-read (their sign-out did not reach this object): end their wires. */
    private readonly revokedElsewhere: (deviceIds: string[]) => void,
  ) {}

  /** Whether the device is known here and signed in. Synchronous: callers check it inside their transaction. */
  isActive(deviceId: string): boolean {
    const row = this.row(deviceId);
    return row !== undefined && row.revoked_at === null;
  }

  isKnown(deviceId: string): boolean {
    return this.row(deviceId) !== undefined;
  }

  /** A new device (register, login). A device already revoked here stays revoked. */
  add(deviceId: string, createdAt: number): void {
    this.store.sql.exec('INSERT INTO devices (device_id, created_at, revoked_at) VALUES (?, ?, NULL) ON CONFLICT (device_id) DO NOTHING', deviceId, createdAt);
  }

  /** Marks the device revoked (also one never seen here); true when it was not revoked before. */
  revoke(deviceId: string, at: number): boolean {
    const wasActive = this.isActive(deviceId);
    this.store.sql.exec(
      `INSERT INTO devices (device_id, created_at, revoked_at) VALUES (?, ?, ?)
       ON CONFLICT (device_id) DO UPDATE SET revoked_at = coalesce(revoked_at, excluded.revoked_at)`,
      deviceId,
      at,
      at,
    );
    return wasActive;
  }

  /** A report against this user (already stored in D1): the demotion takes effect now. */
  noteReport(reporterId: string, at: number): void {
    this.store.sql.exec(
      `INSERT INTO reporters (reporter_id, reported_at) VALUES (?, ?)
       ON CONFLICT (reporter_id) DO UPDATE SET reported_at = max(reported_at, excluded.reported_at)`,
      reporterId,
      at,
    );
    this.keepLatestReporters();
  }

  /** The account's tier now, from the facts held. */
  tier(now: number): Tier {
    const account = this.account();
    if (!account) return 'new';
    const { n } = this.store.sql
      .exec<{ n: number }>('SELECT count(*) AS n FROM reporters WHERE reported_at > ?', now - REPUTATION.windowMs)
      .one();
    return tierOf(account.created_at, now, n >= REPUTATION.reportersToDemote, account.trust);
  }

  /**
   * The device's standing. Reads D1 only to import a device not known here, or when the
   * account facts are older than ACCOUNT_FACTS_REFRESH_MS; whatever was awaited, the
   * answer is read afresh after it, so a revocation that landed meanwhile counts.
   */
  async standing(deviceId: string): Promise<Standing> {
    await this.ensureKnown(deviceId);
    const account = this.account();
    const now = Date.now();
    if (!account || (now - account.read_at >= ACCOUNT_FACTS_REFRESH_MS && now >= this.#retryAt)) await this.refresh(account !== undefined);
    return { active: this.isActive(deviceId) && this.account() !== undefined, tier: this.tier(Date.now()) };
  }

  /** Imports the device from D1 if it is not known here (once: later answers come from here). */
  async ensureKnown(deviceId: string): Promise<void> {
    if (this.isKnown(deviceId)) return;
    let pending = this.#imports.get(deviceId);
    if (!pending) {
      pending = this.import(deviceId).finally(() => this.#imports.delete(deviceId));
      this.#imports.set(deviceId, pending);
    }
    await pending;
  }

  private async import(deviceId: string): Promise<void> {
    const { userId } = this.store;
    const startedAt = Date.now();
    const facts = await deviceStanding(this.db, { userId, deviceId }, startedAt);
    const gone = this.store.transaction(() => {
      // A device D1 does not have (for this user) is remembered as revoked: asked again, it costs nothing.
      const revokedAt = facts.device ? facts.device.revokedAt : startedAt;
      this.store.sql.exec(
        'INSERT INTO devices (device_id, created_at, revoked_at) VALUES (?, ?, ?) ON CONFLICT (device_id) DO NOTHING',
        deviceId,
        facts.device?.createdAt ?? startedAt,
        revokedAt,
      );
      return this.account() ? [] : this.saveAccount(facts.account, startedAt, startedAt);
    });
    if (gone.length > 0) this.revokedElsewhere(gone);
  }

  /** Re-reads the account facts; with `haveFacts`, a failure is logged and the facts held keep serving. */
  private async refresh(haveFacts: boolean): Promise<void> {
    this.#refreshing ??= this.readFacts().finally(() => (this.#refreshing = null));
    try {
      await this.#refreshing;
    } catch (err) {
      if (!haveFacts) throw err;
      this.#retryAt = Date.now() + ACCOUNT_FACTS_RETRY_MS;
      log.warn('account_facts_refresh_failed', { userId: this.store.userId, reason: reason(err) });
    }
  }

  private async readFacts(): Promise<void> {
    const startedAt = Date.now();
    const since = (this.account()?.read_at ?? startedAt) - CLOCK_MARGIN_MS;
    const { account, revokedDeviceIds } = await accountFacts(this.db, this.store.userId, since, startedAt);
    const newlyRevoked = this.store.transaction(() => [
      ...this.saveAccount(account, startedAt, startedAt),
      ...revokedDeviceIds.filter((id) => this.revoke(id, startedAt)),
    ]);
    if (newlyRevoked.length > 0) this.revokedElsewhere(newlyRevoked);
  }

  /**
   * Stores what D1 said at `startedAt`. Reports noted after the read began are kept (D1's
   * answer may predate them); older ones are replaced by D1's, so a report an operator
   * deleted stops counting. An account D1 no longer has signs every device out: returns
   * the devices that were signed in until now.
   */
  private saveAccount(facts: AccountFacts | null, readAt: number, startedAt: number): string[] {
    const sql = this.store.sql;
    if (!facts) {
      const active = sql.exec<{ device_id: string }>('SELECT device_id FROM devices WHERE revoked_at IS NULL').toArray().map((r) => r.device_id);
      sql.exec('UPDATE devices SET revoked_at = ? WHERE revoked_at IS NULL', readAt);
      sql.exec('INSERT OR REPLACE INTO account (id, created_at, trust, read_at) VALUES (1, ?, NULL, ?)', readAt, readAt);
      return active;
    }
    sql.exec('INSERT OR REPLACE INTO account (id, created_at, trust, read_at) VALUES (1, ?, ?, ?)', facts.createdAt, facts.trust, readAt);
    sql.exec('DELETE FROM reporters WHERE reported_at < ?', startedAt);
    for (const { reporterId, at } of facts.reporters) {
      sql.exec(
        `INSERT INTO reporters (reporter_id, reported_at) VALUES (?, ?)
         ON CONFLICT (reporter_id) DO UPDATE SET reported_at = max(reported_at, excluded.reported_at)`,
        reporterId,
        at,
      );
    }
    this.keepLatestReporters();
    return [];
  }

  /** Only the latest reportersToDemote reporters decide a demotion (and when it ends): keep no more. */
  private keepLatestReporters(): void {
    this.store.sql.exec(
      'DELETE FROM reporters WHERE reporter_id NOT IN (SELECT reporter_id FROM reporters ORDER BY reported_at DESC LIMIT ?)',
      REPUTATION.reportersToDemote,
    );
  }

  private account(): AccountRow | undefined {
    return this.store.sql.exec<AccountRow>('SELECT created_at, trust, read_at FROM account WHERE id = 1').toArray()[0];
  }

  private row(deviceId: string): { revoked_at: number | null } | undefined {
    return this.store.sql.exec<{ revoked_at: number | null }>('SELECT revoked_at FROM devices WHERE device_id = ?', deviceId).toArray()[0];
  }
}
