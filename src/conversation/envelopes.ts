/**
 * @module conversation/envelopes
 * What content a conversation accepts, by whether it is end-to-end encrypted: an
 * encrypted conversation only `encrypted` envelopes, a plain one never. Checked for sends
 * and edits alike, whatever wire they came on (socket frame or HTTP), before anything is
 * stored. The server cannot read an envelope; what it can check is its addressing: every
 * entry names a current member, never the sending device itself, and no device twice.
 * (Whether a device id is one of that member's devices with keys is the sender's business:
 * an entry for a device that does not exist reaches nobody.)
 *
 * What each device then receives of an envelope is the delivery rule's part
 * (./visibility.ts, src/protocol/envelopes.ts).
 */
import { AppError } from '../errors.js';
import type { MessageContent } from '../protocol/index.js';
import { member } from './members.js';
import type { Meta } from './meta.js';
import type { ConversationStore } from './store.js';
import type { Reader } from './visibility.js';

/** Throws unless `content` is what this conversation accepts from `sender`'s device. */
export function assertContentFits(store: ConversationStore, meta: Meta, sender: Reader, content: MessageContent): void {
  if (!meta.encrypted) {
    if (content.type === 'encrypted') {
      throw new AppError('encryption_not_enabled', 'This conversation is not end-to-end encrypted: send text or media, not an encrypted envelope.');
    }
    return;
  }
  if (content.type !== 'encrypted') {
    throw new AppError('encryption_required', 'This conversation is end-to-end encrypted: only encrypted envelopes are accepted.');
  }
  const seen = new Set<string>();
  for (const entry of content.entries) {
    if (entry.userId === sender.userId && entry.deviceId === sender.deviceId) {
      throw new AppError('invalid_envelope', 'An envelope has no entry for the device sending it.');
    }
    const key = `${entry.userId}\u0000${entry.deviceId}`;
    if (seen.has(key)) throw new AppError('invalid_envelope', `An envelope has one entry per device at most (device ${entry.deviceId} of ${entry.userId} twice).`);
    seen.add(key);
    if (!member(store, entry.userId)) throw new AppError('invalid_envelope', `An envelope's entries must name members of this conversation (${entry.userId} is not one).`);
  }
}
