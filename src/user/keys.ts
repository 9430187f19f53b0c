/**
 * @module user/keys
 * The key directory of one user, for end-to-end encryption (docs/PROTOCOL.md, "Key
 * directory"): per device its fixed identity (registration id, identity key), its current
 * signed prekeys (classic, and the post-quantum last resort), the ones a rotation replaced
 * (kept E2EE.signedPreKeyGraceMs, then deleted), and its one-time prekeys of both kinds,
 * each handed out once. The device list's version grows by one when a device adds its keys
 * for the first time and when a device holding keys is revoked (its keys go with it).
 *
 * Every method runs synchronously inside its caller's transaction, so a claim's reads and
 * deletions cannot interleave with another claim, and a refusal (a thrown AppError) rolls
 * back whatever the call had written: nothing stored changes. The server checks shapes and
 * bounds only; signatures are checked by the devices that use the keys.
 */
import { AppError } from '../errors.js';
import { E2EE } from '../limits.js';
import type { DeviceEvent, KeyDevice, KeyStatus, KeyUploadBody, PreKey, PreKeyBatchBody, PreKeyBundle, SignedPreKey } from '../protocol/index.js';
import * as queues from './queues.js';
import * as state from './state.js';
import type { UserStore } from './store.js';

/** The two kinds of one-time prekeys, as stored. */
type OneTimeKind = 'classic' | 'pq';

interface DeviceRow {
  device_id: string;
  registration_id: number;
  identity_key: string;
  signed_id: number;
  signed_key: string;
  signed_sig: string;
  pq_id: number;
  pq_key: string;
  pq_sig: string;
  low_classic: number;
  low_pq: number;
  [key: string]: SqlStorageValue;
}

interface OneTimeRow {
  key_id: number;
  public_key: string;
  signature: string | null;
  [key: string]: SqlStorageValue;
}

/** A device whose stock of one-time prekeys fell below E2EE.lowPreKeyThreshold, and its `prekeys_low` event (queued for it alone). */
export interface LowStock {
  deviceId: string;
  events: DeviceEvent[];
}

export const NO_KEYS = 'This device has not uploaded its keys yet (PUT /v1/keys).';

export class DeviceKeys {
  constructor(private readonly store: UserStore) {}

  /** The device list's version: 0 until a device adds its keys. */
  version(): number {
    return state.get(this.store.sql, 'devices_version');
  }

  hasKeys(deviceId: string): boolean {
    return this.row(deviceId) !== undefined;
  }

  /**
   * `PUT /v1/keys` for `deviceId`. The first upload adds the device to the list (refused
   * past E2EE.maxDevicesPerUser); later ones must name the same identity, may rotate the
   * signed prekeys (a new keyId: the old key is retired) and add one-time prekeys.
   * Returns the list's new version when the device was added, else null.
   */
  upload(deviceId: string, body: KeyUploadBody, now: number): number | null {
    const sql = this.store.sql;
    const existing = this.row(deviceId);
    let added: number | null = null;
    if (existing) {
      if (existing.identity_key !== body.identityKey || existing.registration_id !== body.registrationId) {
        throw new AppError('identity_key_mismatch', "This device's identity key and registration id are fixed once uploaded; a device with a new identity must sign in again as a new device.");
      }
      this.rotate(existing, 'signed', body.signedPreKey, now);
      this.rotate(existing, 'pq_last_resort', body.pqLastResortPreKey, now);
    } else {
      const { n } = sql.exec<{ n: number }>('SELECT count(*) AS n FROM device_keys').one();
      if (n >= E2EE.maxDevicesPerUser) {
        throw new AppError('device_limit', `At most ${E2EE.maxDevicesPerUser} devices of a user hold keys; sign one of them out first.`);
      }
      sql.exec(
        `INSERT INTO device_keys (device_id, registration_id, identity_key, signed_id, signed_key, signed_sig, pq_id, pq_key, pq_sig, added_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        deviceId,
        body.registrationId,
        body.identityKey,
        body.signedPreKey.keyId,
        body.signedPreKey.publicKey,
        body.signedPreKey.signature,
        body.pqLastResortPreKey.keyId,
        body.pqLastResortPreKey.publicKey,
        body.pqLastResortPreKey.signature,
        now,
      );
      added = this.version() + 1;
      state.set(sql, 'devices_version', added);
    }
    this.addOneTime(deviceId, body);
    return added;
  }

  /** `POST /v1/keys/prekeys`: more one-time prekeys for a device that has uploaded its keys. */
  addPreKeys(deviceId: string, body: PreKeyBatchBody): void {
    if (!this.row(deviceId)) throw new AppError('not_found', NO_KEYS);
    this.addOneTime(deviceId, body);
  }

  status(deviceId: string): KeyStatus {
    const row = this.row(deviceId);
    if (!row) throw new AppError('not_found', NO_KEYS);
    return { oneTimePreKeys: this.count(deviceId, 'classic'), pqOneTimePreKeys: this.count(deviceId, 'pq'), signedPreKeyId: row.signed_id, pqLastResortPreKeyId: row.pq_id };
  }

  /** The devices holding keys that `isActive` accepts, in the order they added them. */
  list(isActive: (deviceId: string) => boolean): KeyDevice[] {
    return this.rows()
      .filter((row) => isActive(row.device_id))
      .map((row) => ({ deviceId: row.device_id, registrationId: row.registration_id, identityKey: row.identity_key }));
  }

  /**
   * One bundle per device holding keys (those named in `deviceIds`, or all), each with a
   * one-time prekey of each kind taken from its stock (the post-quantum last resort, and
   * no classic one, once a stock is empty). A device whose stock just fell below
   * E2EE.lowPreKeyThreshold gets a `prekeys_low` event in its queue, once per crossing
   * (until an upload brings that kind back to the threshold); returned for live delivery.
   */
  claim(deviceIds: readonly string[] | undefined, isActive: (deviceId: string) => boolean, now: number): { bundles: PreKeyBundle[]; low: LowStock[] } {
    const wanted = deviceIds ? new Set(deviceIds) : null;
    const bundles: PreKeyBundle[] = [];
    const low: LowStock[] = [];
    for (const row of this.rows()) {
      if ((wanted && !wanted.has(row.device_id)) || !isActive(row.device_id)) continue;
      const classic = this.take(row.device_id, 'classic');
      const pq = this.take(row.device_id, 'pq');
      bundles.push({
        deviceId: row.device_id,
        registrationId: row.registration_id,
        identityKey: row.identity_key,
        signedPreKey: { keyId: row.signed_id, publicKey: row.signed_key, signature: row.signed_sig },
        pqPreKey: pq
          ? { keyId: pq.key_id, publicKey: pq.public_key, signature: pq.signature ?? '', lastResort: false }
          : { keyId: row.pq_id, publicKey: row.pq_key, signature: row.pq_sig, lastResort: true },
        ...(classic ? { oneTimePreKey: { keyId: classic.key_id, publicKey: classic.public_key } } : {}),
      });
      const left = { classic: this.count(row.device_id, 'classic'), pq: this.count(row.device_id, 'pq') };
      const crossed = { classic: left.classic < E2EE.lowPreKeyThreshold && !row.low_classic, pq: left.pq < E2EE.lowPreKeyThreshold && !row.low_pq };
      if (crossed.classic || crossed.pq) {
        this.store.sql.exec(
          'UPDATE device_keys SET low_classic = low_classic | ?, low_pq = low_pq | ? WHERE device_id = ?',
          crossed.classic ? 1 : 0,
          crossed.pq ? 1 : 0,
          row.device_id,
        );
        const event = { kind: 'prekeys_low' as const, oneTimePreKeys: left.classic, pqOneTimePreKeys: left.pq };
        low.push({ deviceId: row.device_id, events: queues.append(this.store.sql, [event], now, row.device_id) });
      }
    }
    return { bundles, low };
  }

  /**
   * The device was revoked: every key of it goes. Returns the list's new version when it
   * held keys (the list changed), else null.
   */
  remove(deviceId: string): number | null {
    const sql = this.store.sql;
    const had = this.hasKeys(deviceId);
    sql.exec('DELETE FROM device_keys WHERE device_id = ?', deviceId);
    sql.exec('DELETE FROM one_time_prekeys WHERE device_id = ?', deviceId);
    sql.exec('DELETE FROM retired_prekeys WHERE device_id = ?', deviceId);
    if (!had) return null;
    const version = this.version() + 1;
    state.set(sql, 'devices_version', version);
    return version;
  }

  /** Deletes signed prekeys retired at least E2EE.signedPreKeyGraceMs before `now`; returns how many. */
  pruneRetired(now: number): number {
    const cursor = this.store.sql.exec('DELETE FROM retired_prekeys WHERE retired_at <= ?', now - E2EE.signedPreKeyGraceMs);
    cursor.toArray();
    return cursor.rowsWritten;
  }

  /** When the next retired prekey is due to go, or null. */
  nextPruneAt(): number | null {
    const { at } = this.store.sql.exec<{ at: number | null }>('SELECT min(retired_at) AS at FROM retired_prekeys').one();
    return at === null ? null : at + E2EE.signedPreKeyGraceMs;
  }

  /**
   * A signed prekey in an upload: the current one again changes nothing; a new keyId
   * retires the current one; the same keyId with other bytes is refused (a rotation takes
   * a new keyId, so a bundle handed out never names a key the device no longer has).
   */
  private rotate(row: DeviceRow, kind: 'signed' | 'pq_last_resort', key: SignedPreKey, now: number): void {
    const [id, publicKey, signature] = kind === 'signed' ? [row.signed_id, row.signed_key, row.signed_sig] : [row.pq_id, row.pq_key, row.pq_sig];
    const field = kind === 'signed' ? 'signedPreKey' : 'pqLastResortPreKey';
    if (key.keyId === id) {
      if (key.publicKey !== publicKey || key.signature !== signature) {
        throw new AppError('conflict', `${field} ${key.keyId} is already stored with another key; a rotation takes a new keyId.`);
      }
      return;
    }
    const sql = this.store.sql;
    sql.exec(
      `INSERT INTO retired_prekeys (device_id, kind, key_id, public_key, signature, retired_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (device_id, kind, key_id) DO UPDATE SET public_key = excluded.public_key, signature = excluded.signature, retired_at = excluded.retired_at`,
      row.device_id,
      kind,
      id,
      publicKey,
      signature,
      now,
    );
    const columns = kind === 'signed' ? 'signed_id = ?, signed_key = ?, signed_sig = ?' : 'pq_id = ?, pq_key = ?, pq_sig = ?';
    sql.exec(`UPDATE device_keys SET ${columns} WHERE device_id = ?`, key.keyId, key.publicKey, key.signature, row.device_id);
  }

  /**
   * Adds one-time prekeys of both kinds. A keyId already stored with the same key is a
   * repeat (a retried upload) and changes nothing; with another key it is refused, as is a
   * keyId twice in one batch and a stock past E2EE.maxOneTimePreKeys. A stock back at the
   * threshold may be reported low again when claims take it below.
   */
  private addOneTime(deviceId: string, body: Pick<PreKeyBatchBody, 'oneTimePreKeys' | 'pqOneTimePreKeys'>): void {
    const batches: [OneTimeKind, string, (PreKey | SignedPreKey)[]][] = [
      ['classic', 'oneTimePreKeys', body.oneTimePreKeys],
      ['pq', 'pqOneTimePreKeys', body.pqOneTimePreKeys],
    ];
    const sql = this.store.sql;
    for (const [kind, field, keys] of batches) {
      const seen = new Set<number>();
      for (const key of keys) {
        if (seen.has(key.keyId)) throw new AppError('invalid_request', `${field}: keyId ${key.keyId} appears twice.`);
        seen.add(key.keyId);
        const signature = 'signature' in key ? key.signature : null;
        const stored = sql
          .exec<OneTimeRow>('SELECT key_id, public_key, signature FROM one_time_prekeys WHERE device_id = ? AND kind = ? AND key_id = ?', deviceId, kind, key.keyId)
          .toArray()[0];
        if (stored) {
          if (stored.public_key !== key.publicKey || stored.signature !== signature) throw new AppError('conflict', `${field}: keyId ${key.keyId} is already stored with another key.`);
          continue;
        }
        sql.exec('INSERT INTO one_time_prekeys (device_id, kind, key_id, public_key, signature) VALUES (?, ?, ?, ?, ?)', deviceId, kind, key.keyId, key.publicKey, signature);
      }
      const count = this.count(deviceId, kind);
      if (count > E2EE.maxOneTimePreKeys) {
        throw new AppError('prekey_limit', `${field}: a device may hold at most ${E2EE.maxOneTimePreKeys} one-time prekeys of a kind; this upload would make ${count}.`);
      }
      if (count >= E2EE.lowPreKeyThreshold) sql.exec(`UPDATE device_keys SET ${kind === 'classic' ? 'low_classic' : 'low_pq'} = 0 WHERE device_id = ?`, deviceId);
    }
  }

  /** Takes one one-time prekey of `kind` out of the device's stock, or null when it is empty. */
  private take(deviceId: string, kind: OneTimeKind): OneTimeRow | null {
    const sql = this.store.sql;
    const key = sql
      .exec<OneTimeRow>('SELECT key_id, public_key, signature FROM one_time_prekeys WHERE device_id = ? AND kind = ? ORDER BY key_id LIMIT 1', deviceId, kind)
      .toArray()[0];
    if (!key) return null;
    sql.exec('DELETE FROM one_time_prekeys WHERE device_id = ? AND kind = ? AND key_id = ?', deviceId, kind, key.key_id);
    return key;
  }

  private count(deviceId: string, kind: OneTimeKind): number {
    return this.store.sql.exec<{ n: number }>('SELECT count(*) AS n FROM one_time_prekeys WHERE device_id = ? AND kind = ?', deviceId, kind).one().n;
  }

  private rows(): DeviceRow[] {
    return this.store.sql.exec<DeviceRow>('SELECT * FROM device_keys ORDER BY added_at, device_id').toArray();
  }

  private row(deviceId: string): DeviceRow | undefined {
    return this.store.sql.exec<DeviceRow>('SELECT * FROM device_keys WHERE device_id = ?', deviceId).toArray()[0];
  }
}
