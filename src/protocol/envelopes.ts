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
import type { ConversationEvent, EncryptedContent, EncryptedEntry, MessageContent } from './events.js';
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

/** Whether `event` carries an envelope (a message or an edit): only those differ per device. */
export function carriesEnvelope(event: ConversationEvent): boolean {
  return (event.type === 'message' || event.type === 'message_edited') && isEnvelope(event.content);
}

/** Whether any of `events` carries an envelope. */
export function carriesEnvelopes(events: readonly ConversationEvent[]): boolean {
  return events.some(carriesEnvelope);
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

/**
 * Encodes `value` (a frame carrying events or device events) as JSON for many devices,
 * each seeing envelopes with its own entry only: the same text, for each device, as
 * `JSON.stringify` of the value narrowed by `eventsForDevice`, but the value is encoded
 * once with a placeholder where each envelope's entries go, and each device's text is
 * that encoding with its own entries spliced in. So a broadcast to n devices costs one
 * encoding of the shared body plus n small ones, not n encodings of everything.
 */
export function perDeviceEncoder(value: unknown): (device: DeviceRef) => string {
  const nonce = `\u0000entries-${crypto.randomUUID()}-`;
  const slots: Map<string, EncryptedEntry[]>[] = [];
  const template = JSON.stringify(value, (_key, val: unknown) => {
    if (!isEnvelopeObject(val)) return val;
    const byDevice = new Map<string, EncryptedEntry[]>();
    for (const entry of val.entries) {
      const key = deviceKey(entry);
      const list = byDevice.get(key);
      if (list) list.push(entry);
      else byDevice.set(key, [entry]);
    }
    slots.push(byDevice);
    return { ...val, entries: `${nonce}${slots.length - 1}` };
  });
  const parts: string[] = [];
  let from = 0;
  for (let i = 0; i < slots.length; i++) {
    const token = JSON.stringify(`${nonce}${i}`);
    const at = template.indexOf(token, from);
    // Cannot happen (the nonce is random and escaped the same way each time); if it did, encode per device.
    if (at < 0) return (device) => JSON.stringify(value, (_key, val: unknown) => (isEnvelopeObject(val) ? envelopeFor(val, device) : val));
    parts.push(template.slice(from, at));
    from = at + token.length;
  }
  parts.push(template.slice(from));
  return (device) => {
    const key = deviceKey(device);
    let text = parts[0]!;
    for (let i = 0; i < slots.length; i++) text += JSON.stringify(slots[i]!.get(key) ?? []) + parts[i + 1]!;
    return text;
  };
}

function isEnvelopeObject(val: unknown): val is EncryptedContent {
  return typeof val === 'object' && val !== null && (val as { type?: unknown }).type === 'encrypted' && Array.isArray((val as { entries?: unknown }).entries);
}

function deviceKey(device: DeviceRef): string {
  return `${device.userId}\u0000${device.deviceId}`;
}
