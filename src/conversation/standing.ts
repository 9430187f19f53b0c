/**
 * @module conversation/standing
 * Whether a device may still act here, and on which rate-limit tier: the conversation's
 * copy of what the user's UserDO (which owns devices) says. A device's standing is asked
 * for the first time the device calls, then kept for STANDING.cacheMs; a revocation is
 * pushed here at once (`closeDevice`), and a revoked device stays revoked (sign-outs are
 * final). So D1 is never on this path, and a missed push is bounded by the cache time.
 *
 * Memory only: a fresh instance asks again.
 */
import { AppError } from '../errors.js';
import type { Tier } from '../ratelimit/rules.js';
import type { Reader } from './visibility.js';

export const STANDING = {
  /** How long a device's standing is trusted before its UserDO is asked again. */
  cacheMs: 30_000,
} as const;

export interface Standing {
  active: boolean;
  tier: Tier;
}

/** How the conversation asks a user's UserDO. */
export type StandingSource = (reader: Reader) => Promise<Standing>;

interface Known extends Standing {
  userId: string;
  at: number;
}

export class DeviceStandings {
  readonly #known = new Map<string, Known>();
  readonly #asking = new Map<string, Promise<Standing>>();

  constructor(
    private readonly source: StandingSource,
    private readonly now: () => number = Date.now,
  ) {}

  /** The device's standing when known and fresh, without waiting; null when it must be asked (`fetch`). */
  current(reader: Reader): Standing | null {
    const known = this.#known.get(reader.deviceId);
    if (!known) return null;
    return !known.active || this.now() - known.at < STANDING.cacheMs ? known : null;
  }

  /** The device's standing, asking its UserDO when not known (concurrent calls share one request). */
  fetch(reader: Reader): Standing | Promise<Standing> {
    const current = this.current(reader);
    if (current) return current;
    let asking = this.#asking.get(reader.deviceId);
    if (!asking) {
      asking = this.source(reader)
        .then((standing) => {
          // A revocation pushed while the question was out wins over the older answer.
          if (!this.isRevoked(reader.deviceId)) this.#known.set(reader.deviceId, { active: standing.active, tier: standing.tier, userId: reader.userId, at: this.now() });
          return this.#known.get(reader.deviceId)!;
        })
        .finally(() => this.#asking.delete(reader.deviceId));
      this.#asking.set(reader.deviceId, asking);
    }
    return asking;
  }

  /** The tier of an active device: waits for its standing if need be, throws when it is revoked. */
  async require(reader: Reader): Promise<Tier> {
    const standing = await this.fetch(reader);
    if (!standing.active) throw revoked();
    return standing.tier;
  }

  /** Throws when the device is known to be revoked. Synchronous: for re-checks after an await. */
  assertActive(reader: Reader): void {
    if (this.isRevoked(reader.deviceId)) throw revoked();
  }

  isRevoked(deviceId: string): boolean {
    return this.#known.get(deviceId)?.active === false;
  }

  /** The tier last known for the device ('new', the strictest, when never asked). */
  tierOf(reader: Reader): Tier {
    return this.#known.get(reader.deviceId)?.tier ?? 'new';
  }

  /**
   * A standing the Worker has just read from the UserDO (a socket upgrade: the ticket was
   * redeemed against it a moment ago), so opening a window costs no second question. A
   * revocation already known here wins.
   */
  seed(reader: Reader, standing: Standing): void {
    if (!this.isRevoked(reader.deviceId)) this.#known.set(reader.deviceId, { active: standing.active, tier: standing.tier, userId: reader.userId, at: this.now() });
  }

  /** The UserDO said the device was signed out. */
  revoke(userId: string, deviceId: string): void {
    this.#known.set(deviceId, { active: false, tier: 'new', userId, at: this.now() });
  }

  /** The user's standing changed (a demotion, say): their active devices are asked again. Revocations stay. */
  forgetUser(userId: string): void {
    for (const [deviceId, known] of this.#known) if (known.userId === userId && known.active) this.#known.delete(deviceId);
  }
}

function revoked(): AppError {
  return new AppError('device_revoked', 'This device has been signed out.');
}
