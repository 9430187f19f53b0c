/**
 * @module client/e2ee/messenger
 * End-to-end encryption at the level of a conversation: which devices a message is for,
 * sessions started where missing, the envelope built and opened. The Signal machinery
 * (PQXDH, Double Ratchet, Sender Keys) is `E2ee` (./protocol.ts); this module decides
 * what to encrypt for whom.
 *
 * - Direct conversations use the pairwise scheme: the payload is sealed once and its key
 *   goes to each device in that device's session (every device of the peer, and the
 *   sender's own other devices).
 * - Groups use Sender Keys: one ciphertext for all, and the sender's distribution message
 *   to each device that does not have the current key yet, inside the same envelope.
 *   When a member leaves or a device is revoked, the sender's key is dropped, so the next
 *   message starts a new chain the departed cannot read.
 *
 * Message keys are single-use, so what a device decrypted is kept (`E2eeMemory`): history
 * read again, an event delivered twice, and the sender's own messages (the sender has no
 * entry for itself) are answered from there, never by decrypting twice.
 */
import { E2EE, LIMITS, type EncryptedContent, type EncryptedEntry } from '../../protocol/index.js';
import { ChatError } from '../errors.js';
import { fromBase64url, toBase64url } from './bytes.js';
import type { KeyDirectory } from './directory.js';
import { decodePayload, encodePayload, openBody, sealBody, type InnerContent } from './payload.js';
import { E2eeError, UntrustedIdentityError } from './errors.js';
import type { E2ee } from './protocol.js';
import { addressKey, type Address } from './store.js';

/**
 * Who has this device's current sender key for a conversation (`userId/deviceId`), and
 * the conversation's seq when that key was made: a departure after it means a new key.
 */
export interface Distribution {
  since: number;
  devices: string[];
}

/** What a device remembers of its encrypted conversations (persisted with its keys). */
export interface E2eeMemory {
  /** Content this device decrypted or sent, by conversation and seq (or `sent:` and its envelope, for its own sends). */
  getContent(conversationId: string, key: string): Promise<InnerContent | null | undefined>;
  putContent(conversationId: string, key: string, content: InnerContent | null): Promise<void>;
  getDistribution(conversationId: string): Promise<Distribution | null>;
  setDistribution(conversationId: string, distribution: Distribution | null): Promise<void>;
  /** Small counters of the device (the next prekey ids). */
  getCounter(name: string): Promise<number | undefined>;
  setCounter(name: string, value: number): Promise<void>;
}

export class MemoryE2eeMemory implements E2eeMemory {
  readonly #content = new Map<string, InnerContent | null>();
  readonly #distributions = new Map<string, Distribution>();
  readonly #counters = new Map<string, number>();

  async getContent(conversationId: string, key: string) {
    return this.#content.get(`${conversationId}\u0000${key}`);
  }
  async putContent(conversationId: string, key: string, content: InnerContent | null) {
    this.#content.set(`${conversationId}\u0000${key}`, content);
  }
  async getDistribution(conversationId: string) {
    return this.#distributions.get(conversationId) ?? null;
  }
  async setDistribution(conversationId: string, distribution: Distribution | null) {
    if (distribution) this.#distributions.set(conversationId, distribution);
    else this.#distributions.delete(conversationId);
  }
  async getCounter(name: string) {
    return this.#counters.get(name);
  }
  async setCounter(name: string, value: number) {
    this.#counters.set(name, value);
  }
}

/** What an entry's plaintext starts with: the pairwise body's key, or a sender-key distribution. */
const ENTRY_BODY_KEY = 0x01;
const ENTRY_DISTRIBUTION = 0x02;

/**
 * Room left in a frame for everything but the entries (the body, ids, JSON): an envelope
 * whose entries would not fit is refused here with a clear error rather than by the server.
 */
const FRAME_MARGIN_BYTES = 2_048;

export interface EncryptTarget {
  id: string;
  kind: 'direct' | 'group';
  /** Current members, the sender included (their other devices get the message too). */
  memberIds: readonly string[];
}

export interface Sealed {
  content: EncryptedContent;
  /** Devices this message hands the sender key to: note them with `noteDistributed` once it is acked. */
  distributedTo: string[];
  /** Envelopes (`notice: 'keys'`) to send before `content`: the distribution entries that did not fit in it. */
  preludes: EncryptedContent[];
}

export class Messenger {
  constructor(
    private readonly self: Address,
    private readonly directory: KeyDirectory,
    private readonly e2ee: E2ee,
    private readonly memory: E2eeMemory,
  ) {}

  /** Encrypts `content` for every device of the conversation's members but this one. */
  async encrypt(target: EncryptTarget, content: InnerContent, mediaIds?: string[]): Promise<Sealed> {
    const devices = await this.#recipients(target.memberIds);
    await this.#ensureSessions(devices);
    const payload = encodePayload(target.id, content);
    const sealed = target.kind === 'direct' ? await this.#pairwise(target.id, devices, payload) : await this.#senderKey(target.id, devices, payload);
    if (mediaIds?.length) sealed.content.mediaIds = mediaIds;
    checkFits(sealed.content);
    await this.memory.putContent(target.id, sentKey(sealed.content.body), content);
    return sealed;
  }

  /** After a sender-key message was stored: those devices now have this device's key. */
  async noteDistributed(conversationId: string, devices: string[], atSeq: number): Promise<void> {
    if (devices.length === 0) return;
    const current = await this.memory.getDistribution(conversationId);
    const known = new Set(current?.devices ?? []);
    for (const device of devices) known.add(device);
    await this.memory.setDistribution(conversationId, { since: current?.since ?? atSeq, devices: [...known] });
  }

  /**
   * A member left or a device was revoked at `seq`: if this device's sender key is older,
   * it is dropped, and the next group message starts a new one the departed never get.
   */
  async departed(conversationId: string, seq: number): Promise<void> {
    const current = await this.memory.getDistribution(conversationId);
    if (current && current.since >= seq) return;
    await this.e2ee.rotateSenderKey(conversationId);
    await this.memory.setDistribution(conversationId, null);
  }

  /** A member's device list changed (`devices_changed` at `seq`): read it again; in groups, a new sender key. */
  async devicesChanged(conversationId: string, userId: string, version: number, seq: number): Promise<void> {
    this.directory.noteChanged(userId, version);
    await this.departed(conversationId, seq);
  }

  /**
   * This device could not decrypt what `peer` sent it: a new session with that device
   * (PQXDH from a freshly claimed bundle) and the `session_reset` envelope that carries it,
   * addressed to that device alone. Its first message replaces the peer's old session, and
   * the peer hands this device its sender key again.
   */
  async reset(conversationId: string, peer: Address): Promise<EncryptedContent> {
    const claimed = await this.directory.claim(peer.userId, [peer.deviceId]);
    const bundle = claimed.bundles.find((b) => b.deviceId === peer.deviceId);
    if (!bundle) throw new ChatError('e2ee_no_device', 'That device no longer has keys: it was signed out.');
    await this.e2ee.processPreKeyBundle(peer, bundle);
    const { content } = await this.#pairwise(conversationId, [peer], encodePayload(conversationId, null));
    return { ...content, notice: 'session_reset' };
  }

  /**
   * The content of an encrypted message or edit as this device reads it: from memory if
   * it was read (or sent) before, else decrypted once and remembered. Null: a message
   * that carries only keys (nothing to show).
   */
  async decrypt(conversationId: string, seq: number, author: Address, content: EncryptedContent): Promise<InnerContent | null> {
    const known = await this.memory.getContent(conversationId, String(seq));
    if (known !== undefined) return known;
    if (isSelf(author, this.self) && content.notice) return null;
    const opened = isSelf(author, this.self) ? await this.#sent(conversationId, content) : await this.#open(conversationId, author, content);
    await this.memory.putContent(conversationId, String(seq), opened);
    return opened;
  }

  /** This device has no entry of its own: what it sent is remembered by the envelope's body. */
  async #sent(conversationId: string, content: EncryptedContent): Promise<InnerContent | null> {
    const sent = await this.memory.getContent(conversationId, sentKey(content.body));
    if (sent === undefined) throw new ChatError('e2ee_no_entry', 'This device sent the message but no longer has its plaintext.');
    return sent;
  }

  async #open(conversationId: string, author: Address, content: EncryptedContent): Promise<InnerContent | null> {
    const entry = content.entries.find((e) => isSelf(e, this.self));
    if (content.notice === 'session_reset') {
      if (!entry) return null;
      // The peer started over: its session is now the one this entry starts, and it lost our sender key.
      await this.#decryptEntry(author, entry);
      await this.#forgetDistribution(conversationId, author);
      return null;
    }
    if (content.notice === 'keys') {
      const inner = entry ? await this.#decryptEntry(author, entry) : null;
      if (inner?.[0] === ENTRY_DISTRIBUTION) await this.e2ee.processDistribution(conversationId, author, inner.subarray(1));
      return null;
    }
    const inner = entry ? await this.#decryptEntry(author, entry) : null;
    if (content.scheme === 'pairwise') {
      if (!inner || inner[0] !== ENTRY_BODY_KEY) throw new ChatError('e2ee_no_entry', 'The message was not encrypted for this device.');
      return decodePayload(conversationId, openBody(conversationId, inner.subarray(1), fromBase64url(content.body)));
    }
    if (inner) {
      if (inner[0] !== ENTRY_DISTRIBUTION) throw new ChatError('e2ee_decrypt_failed', 'The message carries an unexpected key.');
      await this.e2ee.processDistribution(conversationId, author, inner.subarray(1));
    }
    return decodePayload(conversationId, await this.e2ee.groupDecrypt(conversationId, author, fromBase64url(content.body)));
  }

  /** An entry for this device that does not decrypt means the pairwise session is broken (`e2ee_session_broken`): `reset` repairs it. */
  async #decryptEntry(author: Address, entry: EncryptedEntry): Promise<Uint8Array> {
    try {
      return await this.e2ee.decrypt(author, entry.kind, fromBase64url(entry.data));
    } catch (cause) {
      if (cause instanceof E2eeError && cause.code === 'duplicate_message') throw cause;
      throw new ChatError('e2ee_session_broken', 'The secure session with the sending device is broken on this device.', { cause });
    }
  }

  async #forgetDistribution(conversationId: string, device: Address): Promise<void> {
    const current = await this.memory.getDistribution(conversationId);
    if (!current) return;
    await this.memory.setDistribution(conversationId, { ...current, devices: current.devices.filter((d) => d !== deviceKey(device)) });
  }

  async #recipients(memberIds: readonly string[]): Promise<Address[]> {
    const lists = await Promise.all(memberIds.map((userId) => this.directory.devices(userId)));
    return lists.flatMap((list) =>
      list.devices.slice(0, E2EE.maxDevicesPerUser).map((d) => ({ userId: list.userId, deviceId: d.deviceId })),
    ).filter((d) => !isSelf(d, this.self));
  }

  /** Claims bundles (one request per user) for devices without a session, and starts them. */
  async #ensureSessions(devices: Address[]): Promise<void> {
    const missing = new Map<string, string[]>();
    for (const device of devices) {
      if (await this.e2ee.hasSession(device)) continue;
      await this.#checkNewDevice(device);
      missing.set(device.userId, [...(missing.get(device.userId) ?? []), device.deviceId]);
    }
    await Promise.all(
      [...missing].map(async ([userId, deviceIds]) => {
        const claimed = await this.directory.claim(userId, deviceIds);
        for (const bundle of claimed.bundles) await this.e2ee.processPreKeyBundle({ userId, deviceId: bundle.deviceId }, bundle);
      }),
    );
  }

  /**
   * A device never seen before, of a user this device verified (any of their devices, now
   * or before: a re-registered device replaces the verified one), is not encrypted to
   * until the user accepts it (`acceptDevice`): for a verified contact a new identity is
   * never taken silently, whether it is a changed key or a new device (keys are per device).
   */
  async #checkNewDevice(device: Address): Promise<void> {
    if (!(await this.awaitsAcceptance(device))) return;
    const listed = (await this.directory.devices(device.userId)).devices.find((d) => d.deviceId === device.deviceId);
    throw new UntrustedIdentityError(addressKey(device), listed ? fromBase64url(listed.identityKey) : new Uint8Array());
  }

  /** Whether sends to this device wait for `acceptDevice`: new to this device, of a user it verified. */
  async awaitsAcceptance(device: Address): Promise<boolean> {
    if (await this.e2ee.trustedIdentity(device)) return false;
    return (await this.memory.getCounter(verifiedUserKey(device.userId))) !== undefined;
  }

  /** Marks a device verified (or not); a user once verified stays guarded against new devices. */
  async setVerified(device: Address, verified: boolean): Promise<void> {
    await this.e2ee.setVerified(device, verified);
    if (verified) await this.memory.setCounter(verifiedUserKey(device.userId), 1);
  }

  /** Takes a new device of a verified contact (after the user saw its safety number); it is not verified itself. */
  async acceptDevice(device: Address): Promise<void> {
    const listed = (await this.directory.devices(device.userId)).devices.find((d) => d.deviceId === device.deviceId);
    if (!listed) throw new ChatError('e2ee_no_device', 'That device has no keys: it may have been signed out.');
    await this.e2ee.trustIdentity(device, fromBase64url(listed.identityKey), false);
  }

  async #pairwise(conversationId: string, devices: Address[], payload: Uint8Array): Promise<Sealed> {
    const { key, body } = sealBody(conversationId, payload);
    const entries = await this.#entries(devices, tagged(ENTRY_BODY_KEY, key));
    return { content: { type: 'encrypted', scheme: 'pairwise', body: toBase64url(body), entries }, distributedTo: [], preludes: [] };
  }

  /**
   * One Sender Key ciphertext, and the distribution to each device that lacks the key. A
   * distribution entry that starts a session is a post-quantum prekey message (~2.3 KB), so
   * entries that do not fit in the message's frame go ahead of it in `keys` envelopes.
   */
  async #senderKey(conversationId: string, devices: Address[], payload: Uint8Array): Promise<Sealed> {
    const known = new Set((await this.memory.getDistribution(conversationId))?.devices ?? []);
    const lacking = devices.filter((d) => !known.has(deviceKey(d)));
    const entries = lacking.length ? await this.#entries(lacking, tagged(ENTRY_DISTRIBUTION, await this.e2ee.createDistribution(conversationId))) : [];
    const body = toBase64url(await this.e2ee.groupEncrypt(conversationId, payload));
    const chunks = chunkEntries(entries, body.length);
    const last = chunks.pop() ?? [];
    const keysBody = toBase64url(sealBody(conversationId, encodePayload(conversationId, null)).body);
    const preludes = chunks.map((chunk): EncryptedContent => ({ type: 'encrypted', scheme: 'sender_key', body: keysBody, entries: chunk, notice: 'keys' }));
    return { content: { type: 'encrypted', scheme: 'sender_key', body, entries: last }, distributedTo: lacking.map(deviceKey), preludes };
  }

  async #entries(devices: Address[], plaintext: Uint8Array): Promise<EncryptedEntry[]> {
    const entries: EncryptedEntry[] = [];
    for (const device of devices) {
      const { kind, data } = await this.e2ee.encrypt(device, plaintext);
      entries.push({ userId: device.userId, deviceId: device.deviceId, kind, data: toBase64url(data) });
    }
    return entries;
  }
}

/** The counter that says this device verified some device of `userId`. */
const verifiedUserKey = (userId: string) => `verified:${userId}`;

function isSelf(a: Address, b: Address): boolean {
  return a.userId === b.userId && a.deviceId === b.deviceId;
}

/**
 * Where a sent envelope's content is remembered: the body's last characters are its
 * authentication tag (pairwise) or signature (sender key), unique per message.
 */
function sentKey(body: string): string {
  return `sent:${body.slice(-43)}`;
}

export function deviceKey(address: Address): string {
  return `${address.userId}/${address.deviceId}`;
}

function tagged(tag: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = tag;
  out.set(bytes, 1);
  return out;
}

/**
 * Entries in runs that each fit in one message beside a body of `bodyLength` characters
 * (E2EE.maxEntries, and the frame), in order; the last run rides with the message itself.
 */
export function chunkEntries(entries: EncryptedEntry[], bodyLength: number): EncryptedEntry[][] {
  const budget = LIMITS.maxFrameBytes - FRAME_MARGIN_BYTES - bodyLength;
  const chunks: EncryptedEntry[][] = [];
  let current: EncryptedEntry[] = [];
  let size = 0;
  for (const entry of entries) {
    const cost = JSON.stringify(entry).length + 1;
    if (current.length > 0 && (current.length >= E2EE.maxEntries || size + cost > budget)) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(entry);
    size += cost;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function checkFits(content: EncryptedContent): void {
  const size = JSON.stringify(content).length;
  if (content.entries.length > E2EE.maxEntries || size > LIMITS.maxFrameBytes - FRAME_MARGIN_BYTES) {
    throw new ChatError(
      'e2ee_too_many_devices',
      `This message would go to ${content.entries.length} devices in ${size} bytes, more than one message can carry (${E2EE.maxEntries} devices, ${LIMITS.maxFrameBytes} bytes).`,
    );
  }
}
