/**
 * @module client/e2ee/codec
 * One conversation's events and sends through end-to-end encryption, for the
 * ConversationHandle: what the app sends is encrypted before it enters the outbox (so a
 * retry resends the same ciphertext), and what arrives is decrypted before the app sees
 * it, in seq order. A conversation that is not encrypted passes through untouched.
 *
 * What the app receives for an encrypted message is the message with its plain content
 * (`text`, or `media` whose `sealed` holds the key); one that cannot be decrypted keeps
 * its `encrypted` content and is reported as an `undecryptable` notice, and the messages
 * after it still decrypt. If its session with the sender is broken (e.g. this device lost
 * it), the codec asks that device to start over (`session_reset`, without the user doing
 * anything). Messages that carry only keys are not shown at all.
 */
import type { ConversationEvent, ConversationInfo, EncryptedContent, MessageContent } from '../../protocol/index.js';
import { ChatError } from '../errors.js';
import { E2eeError } from './errors.js';
import type { Messenger } from './messenger.js';
import type { InnerContent } from './payload.js';
import type { Address } from './store.js';

/**
 * What the app may show about encryption in a conversation:
 * - `undecryptable`: message `seq` cannot be read on this device (the others still can);
 * - `session_reset`: `device` started a new secure session with this one (it could not
 *   read something: its messages before the reset may be lost).
 */
export type E2eeNotice = { type: 'undecryptable'; seq: number; error: ChatError } | { type: 'session_reset'; seq: number; device: Address };

/** A broken session is repaired at most this often per peer device (a history read again retries nothing sooner). */
export const RESET_INTERVAL_MS = 60_000;

export class ConversationCodec {
  #info: Promise<ConversationInfo> | null = null;
  #members: Set<string> | null = null;
  /** The head when the member list was read: membership events up to it are already in it. */
  #membersAt = 0;
  /** The highest seq decoded: a sender key made now covers the conversation up to here. */
  #seen = 0;
  /** Sends whose envelope hands out this device's sender key, until acked. */
  readonly #distributions = new Map<string, string[]>();

  /** When this device last asked each peer device (`userId/deviceId`) to start over. */
  readonly #resetAt = new Map<string, number>();

  constructor(
    readonly conversationId: string,
    private readonly messenger: Messenger,
    private readonly fetchInfo: () => Promise<ConversationInfo>,
    private readonly notify: (notice: E2eeNotice) => void,
    /** Sends an envelope as its own message (a session reset, keys ahead of a message), outside the app's outbox. */
    private readonly post: (content: EncryptedContent) => Promise<void>,
  ) {}

  /** The content to put on the wire for `content` sent under `cmid`. */
  async encode(content: MessageContent, cmid: string): Promise<MessageContent> {
    const info = await this.#load();
    if (!info.encrypted) return content;
    if (content.type === 'encrypted') throw new ChatError('invalid_request', 'Send plain content: the SDK encrypts it.');
    const inner: InnerContent = content;
    const mediaIds = inner.type === 'media' ? [inner.mediaId, ...(inner.thumbnailId ? [inner.thumbnailId] : [])] : undefined;
    let sealed;
    try {
      sealed = await this.messenger.encrypt({ id: info.id, kind: info.kind, memberIds: [...(this.#members ?? [])] }, inner, mediaIds);
    } catch (cause) {
      // The SDK's one error class, with the encryption failure's code (e.g. untrusted_identity).
      if (cause instanceof E2eeError) throw new ChatError(cause.code, cause.message, { cause });
      throw cause;
    }
    // The keys that did not fit go first, each a message of its own (devices not named skip it).
    for (const prelude of sealed.preludes) await this.post(prelude);
    if (sealed.distributedTo.length) this.#distributions.set(cmid, sealed.distributedTo);
    return sealed.content;
  }

  /** A send was stored: the devices its envelope gave the sender key to now have it. */
  async acked(cmid: string): Promise<void> {
    const devices = this.#distributions.get(cmid);
    this.#distributions.delete(cmid);
    if (devices) await this.messenger.noteDistributed(this.conversationId, devices, this.#seen);
  }

  /**
   * The event as the app should see it, or null for one that carries only keys. Called
   * in seq order: membership changes update who the next send is for, and a departure or
   * a revoked device rotates this device's sender key before anything else is sent.
   */
  async decode(event: ConversationEvent): Promise<ConversationEvent | null> {
    this.#seen = Math.max(this.#seen, event.seq);
    switch (event.type) {
      case 'member_added':
        if (event.seq > this.#membersAt) this.#members?.add(event.userId);
        return event;
      case 'member_removed':
        if (event.seq > this.#membersAt) this.#members?.delete(event.userId);
        await this.messenger.departed(this.conversationId, event.seq);
        return event;
      case 'devices_changed':
        await this.messenger.devicesChanged(this.conversationId, event.userId, event.version, event.seq);
        return event;
      case 'message':
      case 'message_edited': {
        if (event.content?.type !== 'encrypted') return event;
        const content = await this.#open(event.seq, event.author, event.content);
        if (content === null) return null;
        return content === undefined ? event : { ...event, content };
      }
      default:
        return event;
    }
  }

  async #open(seq: number, author: Address, content: EncryptedContent): Promise<InnerContent | null | undefined> {
    try {
      const opened = await this.messenger.decrypt(this.conversationId, seq, author, content);
      if (content.notice === 'session_reset' && content.entries.length > 0) this.notify({ type: 'session_reset', seq, device: author });
      return opened;
    } catch (cause) {
      const error = cause instanceof ChatError ? cause : new ChatError('e2ee_decrypt_failed', 'This message could not be decrypted on this device.', { cause });
      this.notify({ type: 'undecryptable', seq, error });
      if (error.code === 'e2ee_session_broken') void this.#reset(author);
      return undefined;
    }
  }

  /** Asks the sending device to start a new session with this one, at most once per RESET_INTERVAL_MS. */
  async #reset(peer: Address): Promise<void> {
    const key = `${peer.userId}/${peer.deviceId}`;
    const last = this.#resetAt.get(key);
    if (last !== undefined && Date.now() - last < RESET_INTERVAL_MS) return;
    this.#resetAt.set(key, Date.now());
    try {
      await this.post(await this.messenger.reset(this.conversationId, peer));
    } catch {
      // Offline, or the device is gone: the next message that fails to decrypt tries again.
      this.#resetAt.delete(key);
    }
  }

  #load(): Promise<ConversationInfo> {
    this.#info ??= this.fetchInfo().then(
      (info) => {
        this.#members = new Set(info.members.map((m) => m.userId));
        this.#membersAt = info.lastSeq;
        return info;
      },
      (error: unknown) => {
        this.#info = null;
        throw error;
      },
    );
    return this.#info;
  }
}
