/**
 * @module client/e2ee/directory
 * The server's key directory as the SDK uses it: publishing this device's public keys,
 * keeping its stock of one-time prekeys up, reading other users' device lists (cached by
 * version until a `devices_changed` event says otherwise) and claiming their bundles.
 * Only public keys cross this module; the private halves stay in the device's store.
 */
import {
  ClaimedKeys,
  DeviceList,
  E2EE,
  KeyStatus,
  type KeyUploadBody,
  type PreKeyBatchBody,
} from '../../protocol/index.js';
import { ChatError } from '../errors.js';
import type { HttpApi } from '../http.js';

export class KeyDirectory {
  readonly #api: HttpApi;
  readonly #lists = new Map<string, DeviceList>();
  /** Versions announced by `devices_changed` that are newer than the cached list. */
  readonly #announced = new Map<string, number>();

  constructor(api: HttpApi) {
    this.#api = api;
  }

  /** What this device has stored, or null before its first upload. */
  async status(): Promise<KeyStatus | null> {
    try {
      return await this.#api.request('GET', '/keys/status', { schema: KeyStatus });
    } catch (error) {
      if (error instanceof ChatError && error.status === 404) return null;
      throw error;
    }
  }

  upload(body: KeyUploadBody): Promise<KeyStatus> {
    return this.#api.request('PUT', '/keys', { body, schema: KeyStatus });
  }

  addPreKeys(body: PreKeyBatchBody): Promise<KeyStatus> {
    return this.#api.request('POST', '/keys/prekeys', { body, schema: KeyStatus });
  }

  /** How many one-time prekeys of each kind to add so the stock is full again. */
  static shortfall(status: KeyStatus): { oneTime: number; pqOneTime: number } {
    const want = (have: number) => (have < E2EE.lowPreKeyThreshold ? Math.min(E2EE.maxPreKeysPerUpload, E2EE.maxOneTimePreKeys - have) : 0);
    return { oneTime: want(status.oneTimePreKeys), pqOneTime: want(status.pqOneTimePreKeys) };
  }

  /** The user's devices with keys: cached until an announced version passes it. */
  async devices(userId: string): Promise<DeviceList> {
    const cached = this.#lists.get(userId);
    if (cached && cached.version >= (this.#announced.get(userId) ?? 0)) return cached;
    const list = await this.#api.request('GET', `/users/${encodeURIComponent(userId)}/keys`, { schema: DeviceList });
    this.#lists.set(userId, list);
    return list;
  }

  /** A `devices_changed` event: the next `devices(userId)` reads the list again. */
  noteChanged(userId: string, version: number): void {
    if (version > (this.#announced.get(userId) ?? 0)) this.#announced.set(userId, version);
  }

  forget(userId: string): void {
    this.#lists.delete(userId);
  }

  /** One bundle per named device (each one-time prekey is handed out once). */
  claim(userId: string, deviceIds?: string[]): Promise<ClaimedKeys> {
    return this.#api.request('POST', `/users/${encodeURIComponent(userId)}/keys/claim`, { body: deviceIds ? { deviceIds } : {}, schema: ClaimedKeys });
  }
}
