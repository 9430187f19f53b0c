/**
 * @module conversation/visibility
 * The one rule for who may receive what, applied to everything this conversation sends a
 * reader on any wire: chat windows, the feed over SSE and long polling, history, search,
 * media downloads, and the fan-out to members' queues (which push notifications are made
 * from).
 *
 * 1. The reader may have anything at all only while they are a member and their device
 *    is in good standing (`admit`). Checked on every read, again after every `await`,
 *    and by the broadcast itself, so a window that slipped past a removal still gets
 *    nothing.
 * 2. Events go out rendered for the reader, never as raw rows: a message in its current
 *    state (deleted or moderated content gone, edits applied), an edit of a deleted or
 *    hidden message without its text.
 * 3. Blocks: a reader never sees what a user they blocked wrote. Their messages arrive
 *    `hidden` (same seq, no content), their edits and reactions as `withheld`, their
 *    reactions are left out of every message's list, and a reply quoting them quotes
 *    nothing; their typing and presence are not passed on (`hearsFrom`: the windows'
 *    frames and the feed's view of who is typing).
 * 4. End-to-end encrypted envelopes (src/protocol/envelopes.ts): a device receives the
 *    shared body and only its own entry (matched by user and device), on every wire
 *    (`forDevice`; the user's queues apply the same function, and the sockets of the
 *    windows, relays and inbox its encoder, `perDeviceEncoder`, which gives the same
 *    text). Everything else, `devices_changed` included, passes unchanged. The log keeps
 *    the whole envelope.
 */
import { AppError } from '../errors.js';
import { envelopeFor, eventForDevice, eventsForDevice, type ConversationEvent, type Member, type MessageContent, type MessageEvent } from '../protocol/index.js';
import type { Identity } from '../env.js';
import * as blocks from './blocks.js';
import * as lifecycle from './lifecycle.js';
import { messageJson, toEvent, type EventRow } from './log.js';
import { requireMeta, NOT_FOUND } from './meta.js';
import { member } from './members.js';
import type { DeviceStandings } from './standing.js';
import type { ConversationStore } from './store.js';

/** Who reads: a member's device. */
export type Reader = Identity;

/** The member, if `reader` may read this conversation now; throws otherwise (the same answer as for no conversation). */
export function admit(store: ConversationStore, standings: DeviceStandings, reader: Reader): Member {
  requireMeta(store);
  const found = member(store, reader.userId);
  if (!found) throw new AppError('conversation_not_found', NOT_FOUND);
  standings.assertActive(reader);
  return found;
}

/** Whether `reader` may read this conversation now (for broadcasts: no error to build). */
export function admitted(store: ConversationStore, standings: DeviceStandings, reader: Reader): boolean {
  return member(store, reader.userId) !== null && !standings.isRevoked(reader.deviceId);
}

/** Whether `viewerId` hears `userId`'s ephemeral signals (typing, presence): not when they blocked them. */
export function hearsFrom(store: ConversationStore, viewerId: string, userId: string): boolean {
  return !blocks.has(store, viewerId, userId);
}

/** A page of stored events as `reader`'s device sees them now (history, the feed). */
export function pageFor(store: ConversationStore, events: ConversationEvent[], reader: Reader): ConversationEvent[] {
  return forDevice(withoutBlocked(store, reader.userId, lifecycle.render(store.sql, events, reader.userId)), reader);
}

/**
 * A page of stored rows (ascending) as `reader`'s device sees it now, as JSON text: what
 * `pageFor` gives, encoded. A message with nothing to apply (no state, reactions, reply,
 * hide, block, or envelope: most of any page) reads exactly as stored, so its text is
 * spliced from the stored body (`log.messageJson`) without a parse or an object; the rest
 * go through `pageFor`.
 */
export function pageJsonFor(store: ConversationStore, rows: EventRow[], reader: Reader): string {
  const first = rows[0];
  const last = rows.at(-1);
  if (!first || !last) return '[]';
  const annotated = requireMeta(store).encrypted ? null : lifecycle.annotatedSeqs(store.sql, reader.userId, first[0], last[0]);
  const blocked = blocks.blockedBy(store, reader.userId);
  const plain = rows.map(
    ([seq, type, , author, , body]) =>
      annotated !== null && type === 'message' && !annotated.has(seq) && !blocked.has(author) && !body.includes('"replyTo"') && !body.includes('"encrypted"'),
  );
  const rest = rows.filter((_, i) => !plain[i]);
  const rendered = rest.length > 0 ? pageFor(store, rest.map(toEvent), reader) : [];
  let next = 0;
  return `[${rows.map((row, i) => (plain[i] ? messageJson(row) : JSON.stringify(rendered[next++]))).join(',')}]`;
}

/**
 * Events already rendered for a user, as one of their devices may have them: envelopes
 * narrowed to that device's entry (src/protocol/envelopes.ts). The same array when
 * nothing in it is an envelope, so a plain broadcast keeps sharing one encoded frame.
 */
export function forDevice(events: ConversationEvent[], reader: Reader): ConversationEvent[] {
  return eventsForDevice(events, reader);
}

/** One message's content (a version of it, a search hit) as `reader`'s device may have it. */
export function contentForDevice(content: MessageContent, reader: Reader): MessageContent {
  return content.type === 'encrypted' ? envelopeFor(content, reader) : content;
}

/** Messages (search hits) as `reader`'s device may have them. */
export function messagesForDevice(messages: MessageEvent[], reader: Reader): MessageEvent[] {
  return messages.map((m) => eventForDevice(m, reader));
}

/**
 * Stored events as each member may have them on a live wire (the fan-out to their
 * queues): as they happened, minus what was taken away since (lifecycle.renderAsSent).
 * Rendered once for everyone, then again only for members whose view differs (they hid
 * one of these messages, or block someone); members who see the same get the same array.
 */
export function storedViews(store: ConversationStore, events: ConversationEvent[]): (userId: string) => ConversationEvent[] {
  const shared = lifecycle.renderAsSent(store.sql, events, null);
  const hiders = usersWhoHid(store, events);
  return (userId) => withoutBlocked(store, userId, hiders.has(userId) ? lifecycle.renderAsSent(store.sql, events, userId) : shared);
}

/**
 * Events just stored, as each reader of a broadcast sees them. They are fresh (rendered as
 * sent), so only blocks and, for an edit, the reader having hidden its message differ.
 */
export function freshViews(store: ConversationStore, events: ConversationEvent[]): (userId: string) => ConversationEvent[] {
  // A new message cannot be hidden yet: only an edit can concern a message someone hid.
  const hiders = usersWhoHid(store, events.filter((e) => e.type === 'message_edited'));
  return (userId) => {
    const hidden = hiders.get(userId);
    const own = hidden ? events.map((e) => (e.type === 'message_edited' && hidden.has(e.targetSeq) ? withoutContent(e) : e)) : events;
    return withoutBlocked(store, userId, own);
  };
}

/**
 * Events for a relay (src/relay/): one array for every reader on it, plus the views of
 * the few readers who see something else (they block someone, or hid a message an edit
 * concerns), so what the conversation renders per batch grows with those readers, never
 * with the audience. `fresh`: just stored (as `freshViews`); else read back from the log
 * (as `storedViews`, for a relay catching up).
 */
export function relayViews(store: ConversationStore, events: ConversationEvent[], fresh: boolean): RelayViews {
  let shared = events;
  let view: (userId: string) => ConversationEvent[];
  let hiders: Map<string, Set<number>>;
  if (fresh) {
    view = freshViews(store, events);
    hiders = usersWhoHid(store, events.filter((e) => e.type === 'message_edited'));
  } else {
    // As storedViews, but sharing its one rendering, so a reader who sees it gets the same array.
    shared = lifecycle.renderAsSent(store.sql, events, null);
    hiders = usersWhoHid(store, events);
    view = (userId) => withoutBlocked(store, userId, hiders.has(userId) ? lifecycle.renderAsSent(store.sql, events, userId) : shared);
  }
  const differing = new Set([...store.get(blocks.BLOCKS).keys(), ...hiders.keys()]);
  const exceptions: Record<string, ConversationEvent[]> = {};
  for (const userId of differing) {
    const own = view(userId);
    if (own !== shared) exceptions[userId] = own;
  }
  return { events: shared, exceptions };
}

/** What a relay gets: the events as most readers see them, and by user the views that differ. */
export interface RelayViews {
  events: ConversationEvent[];
  exceptions: Record<string, ConversationEvent[]>;
}

/** Who hid any message these events render or edit, and which (one query per batch, usually empty). */
function usersWhoHid(store: ConversationStore, events: ConversationEvent[]): Map<string, Set<number>> {
  const seqs = events.flatMap((e) => (e.type === 'message' ? [e.seq] : e.type === 'message_edited' ? [e.targetSeq] : []));
  const found = new Map<string, Set<number>>();
  if (seqs.length === 0) return found;
  const rows = store.sql.exec<{ user_id: string; seq: number }>(
    'SELECT user_id, seq FROM hidden_messages WHERE seq BETWEEN ? AND ?',
    Math.min(...seqs),
    Math.max(...seqs),
  );
  for (const row of rows) {
    const set = found.get(row.user_id) ?? new Set<number>();
    set.add(row.seq);
    found.set(row.user_id, set);
  }
  return found;
}

/** `events` with what users `viewerId` blocked wrote taken out; the same array when they block nobody. */
export function withoutBlocked(store: ConversationStore, viewerId: string, events: ConversationEvent[]): ConversationEvent[] {
  const blocked = blocks.blockedBy(store, viewerId);
  if (blocked.size === 0) return events;
  return events.map((event) => {
    if (!blocked.has(event.author.userId) || event.type === 'message_deleted' || isMembership(event)) {
      return event.type === 'message' ? scrubMessage(event, blocked) : event;
    }
    if (event.type === 'message') return { type: 'message', seq: event.seq, ts: event.ts, author: event.author, cmid: event.cmid, hidden: true };
    return { type: 'withheld', seq: event.seq, ts: event.ts, author: event.author };
  });
}

/** The reactions and reply quote of a message, without the blocked users. */
function scrubMessage(message: MessageEvent, blocked: ReadonlySet<string>): MessageEvent {
  let out = message;
  if (message.reactions?.some((r) => r.userIds.some((id) => blocked.has(id)))) {
    const reactions = message.reactions
      .map((r) => ({ emoji: r.emoji, userIds: r.userIds.filter((id) => !blocked.has(id)) }))
      .filter((r) => r.userIds.length > 0);
    const { reactions: _all, ...rest } = message;
    out = reactions.length > 0 ? { ...rest, reactions } : rest;
  }
  if (out.replyTo?.userId && blocked.has(out.replyTo.userId)) out = { ...out, replyTo: { ...out.replyTo, quote: null } };
  return out;
}

/** Events about who is in the conversation, and with which devices: a reader needs them even from a user they blocked (they still encrypt for that user). */
function isMembership(event: ConversationEvent): boolean {
  return event.type === 'member_added' || event.type === 'member_removed' || event.type === 'role_changed' || event.type === 'devices_changed';
}

function withoutContent<E extends { content?: unknown }>(event: E): Omit<E, 'content'> {
  const { content: _content, ...rest } = event;
  return rest;
}
