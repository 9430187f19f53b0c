/**
 * @module protocol/envelopes
 * The one rule for what a device receives of an end-to-end encrypted message: the shared
 * `body` and only its own entry (matched by user and device), never another device's
 * ciphertext. Used by every wire of both objects: the ConversationDO (chat windows, the
 * feed, history; src/conversation/visibility.ts), the relays (src/relay/readers.ts) and
 * the UserDO (the device queues and the inbox socket; src/user/). Pure and free of
 * Workers imports, so the SDK may use it too.
 *
 * Every other event, and every message or edit whose content is not `encrypted`, comes
 * back as the very same object (and a list with nothing to change as the very same
 * array): callers keep their per-array caches, and plain conversations pay one scan.
 */
import type { ConversationEvent, EncryptedContent, MessageContent } from './events.js';
import type { DeviceEvent } from './inbox.js';

/** A device of a user: whose entries it may have. */
export interface DeviceRef {
  userId: string;
  deviceId: string;
}

/** Whether `content` is an end-to-end encrypted envelope. */
export function isEnvelope(content: MessageContent | undefined): content is EncryptedContent {
  return content?.type === 'encrypted';
}

/** Whether any of `events` carries an envelope (a message or an edit): only those differ per device. */
export function carriesEnvelopes(events: readonly ConversationEvent[]): boolean {
  return events.some((e) => (e.type === 'message' || e.type === 'message_edited') && isEnvelope(e.content));
}

/** The envelope as `device` may have it: its own entry only. The same object when that changes nothing. */
export function envelopeFor(content: EncryptedContent, device: DeviceRef): EncryptedContent {
  const own = content.entries.filter((e) => e.userId === device.userId && e.deviceId === device.deviceId);
  return own.length === content.entries.length ? content : { ...content, entries: own };
}

/** The envelope as any device of `userId` may have it (what the user's object keeps in its queue). */
export function envelopeForUser(content: EncryptedContent, userId: string): EncryptedContent {
  const own = content.entries.filter((e) => e.userId === userId);
  return own.length === content.entries.length ? content : { ...content, entries: own };
}

/** One event as `device` sees it: an envelope narrowed to its entry; anything else unchanged (the same object). */
export function eventForDevice<E extends ConversationEvent>(event: E, device: DeviceRef): E {
  if ((event.type !== 'message' && event.type !== 'message_edited') || !isEnvelope(event.content)) return event;
  const content = envelopeFor(event.content, device);
  return content === event.content ? event : { ...event, content };
}

/** Events as `device` sees them; the same array when none changes. */
export function eventsForDevice(events: ConversationEvent[], device: DeviceRef): ConversationEvent[] {
  let out: ConversationEvent[] | null = null;
  events.forEach((event, i) => {
    const own = eventForDevice(event, device);
    if (own !== event) (out ??= events.slice())[i] = own;
  });
  return out ?? events;
}

/** Events as the devices of `userId` may have them between them; the same array when none changes. */
export function eventsForUser(events: ConversationEvent[], userId: string): ConversationEvent[] {
  let out: ConversationEvent[] | null = null;
  events.forEach((event, i) => {
    if ((event.type !== 'message' && event.type !== 'message_edited') || !isEnvelope(event.content)) return;
    const content = envelopeForUser(event.content, userId);
    if (content !== event.content) (out ??= events.slice())[i] = { ...event, content };
  });
  return out ?? events;
}

/** A device event as that device (of the queue's user) sees it: a conversation event through `eventForDevice`, anything else unchanged. */
export function deviceEventFor(item: DeviceEvent, device: DeviceRef): DeviceEvent {
  if (item.kind !== 'event') return item;
  const event = eventForDevice(item.event, device);
  return event === item.event ? item : { ...item, event };
}
