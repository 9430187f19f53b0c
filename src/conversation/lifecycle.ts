/**
 * @module conversation/lifecycle
 * What happens to a message after it is sent: edits, deletes (for me, for everyone,
 * moderation), reactions and replies, and rendering each message in its current state.
 *
 * Edits, deletes for everyone and reactions are sequenced events in the log, so a client
 * syncing from a seq replays them and converges. The original message row is never
 * rewritten except to erase content: a delete for everyone removes the text from the
 * message, from every edit of it and from the search index at once, leaving a
 * tombstone. Delete for me is personal state, not an event.
 *
 * About 440 lines, one table of state: the writes and the rendering read the same
 * message-state and reaction rows, and each rendering path must agree with what the
 * writes leave behind; kept together so that agreement is visible in one file.
 */
import { AppError } from '../errors.js';
import type { Identity } from '../env.js';
import {
  deletedPreview,
  LIMITS,
  previewOf,
  quoteOf,
  type ConversationEvent,
  type ConversationKind,
  type DeleteScope,
  type MessageContent,
  type MessageEvent,
  type MessagePreview,
  type Reaction,
  type ReplyRef,
  type Role,
} from '../protocol/index.js';
import { LIFECYCLE } from '../limits.js';
import * as log from './log.js';
import * as search from './search.js';
import { fact, type ConversationStore } from './store.js';

interface StateRow {
  seq: number;
  last_edit_seq: number | null;
  edited_at: number | null;
  deleted_scope: DeleteScope | null;
  deleted_seq: number | null;
  deleted_at: number | null;
  deleted_by: string | null;
  purge_at: number | null;
  [key: string]: SqlStorageValue;
}

export interface Actor extends Identity {
  role: Role;
}

const isAdmin = (kind: ConversationKind, role: Role) => kind === 'group' && (role === 'admin' || role === 'owner');

function stateOf(sql: SqlStorage, seq: number): StateRow | null {
  return sql.exec<StateRow>('SELECT * FROM message_state WHERE seq = ?', seq).toArray()[0] ?? null;
}

function messageAt(sql: SqlStorage, seq: number): MessageEvent | null {
  const event = log.eventAt(sql, seq);
  return event?.type === 'message' ? event : null;
}

function requireMessage(sql: SqlStorage, seq: number): MessageEvent {
  const message = messageAt(sql, seq);
  if (!message) throw new AppError('not_found', `There is no message at seq ${seq}.`);
  return message;
}

function requireLive(sql: SqlStorage, seq: number): { message: MessageEvent; state: StateRow | null } {
  const message = requireMessage(sql, seq);
  const state = stateOf(sql, seq);
  if (state?.deleted_scope) throw new AppError('conflict', 'That message was deleted.');
  return { message, state };
}

/** The latest content of a message: its last edit, else what was sent. Undefined once erased. */
function currentContent(sql: SqlStorage, message: MessageEvent, state: StateRow | null): MessageContent | undefined {
  if (state?.last_edit_seq) {
    const edit = log.eventAt(sql, state.last_edit_seq);
    return edit?.type === 'message_edited' ? edit.content : undefined;
  }
  return message.content;
}

function hiddenFor(sql: SqlStorage, userId: string, seq: number): boolean {
  return sql.exec<{ n: number }>('SELECT count(*) AS n FROM hidden_messages WHERE user_id = ? AND seq = ?', userId, seq).one().n > 0;
}

// ── Replies ──────────────────────────────────────────────────────────────────

/** A reply must point at an existing message that is not deleted. */
export function checkReplyTarget(sql: SqlStorage, seq: number): void {
  requireLive(sql, seq);
}

/**
 * A message just appended, as broadcast: it has no edits, deletes or reactions yet, so
 * only a reply needs looking up (its quote).
 */
export function renderNew(sql: SqlStorage, event: MessageEvent): MessageEvent {
  return event.replyTo ? { ...event, replyTo: replyRef(sql, event.replyTo.seq) } : event;
}

/**
 * What a reply shows of message `seq`: its current text, or (`asOf`) its text when the
 * event at that seq happened. Nothing once it is deleted.
 */
function replyRef(sql: SqlStorage, seq: number, asOf?: number): ReplyRef {
  const target = messageAt(sql, seq);
  if (!target) return { seq, quote: null };
  const state = stateOf(sql, seq);
  const content = asOf === undefined ? currentContent(sql, target, state) : contentAsOf(sql, target, asOf);
  return { seq, userId: target.author.userId, quote: state?.deleted_scope ? null : quoteOf(content) };
}

/** A message's content as it read just before `asOf`: its last edit before then, else what was sent. */
function contentAsOf(sql: SqlStorage, message: MessageEvent, asOf: number): MessageContent | undefined {
  const edit = sql
    .exec<{ seq: number }>(
      `SELECT seq FROM events WHERE type = 'message_edited' AND json_extract(body, '$.targetSeq') = ? AND seq < ? ORDER BY seq DESC LIMIT 1`,
      message.seq,
      asOf,
    )
    .toArray()[0];
  if (!edit) return message.content;
  const event = log.eventAt(sql, edit.seq);
  return event?.type === 'message_edited' ? event.content : undefined;
}

// ── Edits ────────────────────────────────────────────────────────────────────

/** Only the author may edit, within the edit window, a message that is not deleted. */
export function edit(store: ConversationStore, actor: Identity, targetSeq: number, content: MessageContent, now: number): ConversationEvent {
  const { sql } = store;
  const { message, state } = requireLive(sql, targetSeq);
  if (message.author.userId !== actor.userId) throw new AppError('forbidden', 'Only the author can edit a message.');
  if (now - message.ts > LIFECYCLE.editWindowMs) {
    throw new AppError('window_expired', `Messages can be edited for ${LIFECYCLE.editWindowMs / 60_000} minutes after sending.`);
  }
  search.catchUp(store, log.lastSeq(store));
  search.unindex(sql, targetSeq, currentContent(sql, message, state));
  const event = log.append(store, { type: 'message_edited', ts: now, author: { userId: actor.userId, deviceId: actor.deviceId }, targetSeq, content });
  search.index(sql, targetSeq, content);
  sql.exec(
    `INSERT INTO message_state (seq, last_edit_seq, edited_at) VALUES (?1, ?2, ?3)
     ON CONFLICT (seq) DO UPDATE SET last_edit_seq = ?2, edited_at = ?3`,
    targetSeq,
    event.seq,
    now,
  );
  return event;
}

/** Every version of a message, oldest first. Erased content is gone; held (moderated) content only for admins. */
export function versions(sql: SqlStorage, seq: number, kind: ConversationKind, viewerRole: Role) {
  const message = requireMessage(sql, seq);
  const state = stateOf(sql, seq);
  if (state?.deleted_scope === 'moderated' && !isAdmin(kind, viewerRole)) {
    throw new AppError('forbidden', 'This message was removed by a moderator.');
  }
  const edits = sql
    .exec<{ seq: number }>(
      `SELECT seq FROM events WHERE type = 'message_edited' AND json_extract(body, '$.targetSeq') = ? ORDER BY seq`,
      seq,
    )
    .toArray()
    .map((r) => log.eventAt(sql, r.seq));
  const all = [message, ...edits].flatMap((e) =>
    e && (e.type === 'message' || e.type === 'message_edited') && e.content ? [{ seq: e.seq, at: e.ts, content: e.content }] : [],
  );
  return { seq, versions: all };
}

// ── Deletes ──────────────────────────────────────────────────────────────────

/**
 * Deletes a message for everyone. `everyone`: the author within the delete window, or an
 * admin on any message; content erased now. `moderated`: admins only; content held until
 * the retention period ends. Deleting a deleted message changes nothing (null).
 */
export function deleteForAll(
  store: ConversationStore,
  actor: Actor,
  kind: ConversationKind,
  targetSeq: number,
  scope: DeleteScope,
  now: number,
): ConversationEvent | null {
  const { sql } = store;
  const message = requireMessage(sql, targetSeq);
  const state = stateOf(sql, targetSeq);
  if (state?.deleted_scope) return null;
  const admin = isAdmin(kind, actor.role);
  if (scope === 'moderated' && !admin) throw new AppError('forbidden', 'Only group owners and admins can moderate messages.');
  if (scope === 'everyone' && !admin) {
    if (message.author.userId !== actor.userId) throw new AppError('forbidden', 'Only the author or a group admin can delete this message for everyone.');
    if (now - message.ts > LIFECYCLE.deleteWindowMs) {
      throw new AppError('window_expired', `Messages can be deleted for everyone for ${LIFECYCLE.deleteWindowMs / 3_600_000} hours after sending.`);
    }
  }
  search.catchUp(store, log.lastSeq(store));
  search.unindex(sql, targetSeq, currentContent(sql, message, state));
  const event = log.append(store, { type: 'message_deleted', ts: now, author: { userId: actor.userId, deviceId: actor.deviceId }, targetSeq, scope });
  sql.exec(
    `INSERT INTO message_state (seq, deleted_scope, deleted_seq, deleted_at, deleted_by, purge_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT (seq) DO UPDATE SET deleted_scope = ?2, deleted_seq = ?3, deleted_at = ?4, deleted_by = ?5, purge_at = ?6`,
    targetSeq,
    scope,
    event.seq,
    now,
    actor.userId,
    scope === 'moderated' ? now + LIFECYCLE.moderationRetentionMs : null,
  );
  sql.exec('DELETE FROM reactions WHERE seq = ?', targetSeq);
  if (scope === 'moderated') store.forget(NEXT_PURGE);
  if (scope === 'everyone') erase(store, targetSeq);
  return event;
}

/** Removes a message's content from its row and from every edit of it. */
function erase(store: ConversationStore, seq: number): void {
  const { sql } = store;
  log.forgetRecent(store);
  sql.exec(`UPDATE events SET body = json_remove(body, '$.content') WHERE seq = ? AND type = 'message'`, seq);
  sql.exec(
    `UPDATE events SET body = json_remove(body, '$.content') WHERE type = 'message_edited' AND json_extract(body, '$.targetSeq') = ?`,
    seq,
  );
}

/** Erases moderated messages whose retention has ended. */
export function purgeDue(store: ConversationStore, now: number): number {
  const { sql } = store;
  if ((store.get(NEXT_PURGE) ?? Number.POSITIVE_INFINITY) > now) return 0;
  store.forget(NEXT_PURGE);
  const due = sql.exec<{ seq: number }>('SELECT seq FROM message_state WHERE purge_at <= ?', now).toArray();
  for (const { seq } of due) {
    erase(store, seq);
    sql.exec('UPDATE message_state SET purge_at = NULL WHERE seq = ?', seq);
  }
  return due.length;
}

/** When the next moderated message is due for erasure, or null: asked by every wake-up, so a fact of the store. */
export const NEXT_PURGE = fact<number | null>('lifecycle.nextPurge', (sql) => sql.exec<{ at: number | null }>('SELECT min(purge_at) AS at FROM message_state WHERE purge_at IS NOT NULL').one().at);

export function nextPurge(store: ConversationStore): number | null {
  return store.get(NEXT_PURGE);
}

/** Delete for me: hidden for this user on all their devices. False when it already was. */
export function hideForMe(sql: SqlStorage, userId: string, seq: number, now: number): boolean {
  requireMessage(sql, seq);
  const before = hiddenFor(sql, userId, seq);
  if (!before) sql.exec('INSERT INTO hidden_messages (user_id, seq, hidden_at) VALUES (?, ?, ?)', userId, seq, now);
  return !before;
}

// ── Reactions ────────────────────────────────────────────────────────────────

/** Adds or removes one reaction of the actor; null when that changes nothing. */
export function react(store: ConversationStore, actor: Identity, targetSeq: number, emoji: string, op: 'add' | 'remove', now: number): ConversationEvent | null {
  const { sql } = store;
  requireLive(sql, targetSeq);
  const has =
    sql.exec<{ n: number }>('SELECT count(*) AS n FROM reactions WHERE seq = ? AND user_id = ? AND emoji = ?', targetSeq, actor.userId, emoji).one().n > 0;
  if (op === 'add') {
    if (has) return null;
    const mine = sql.exec<{ n: number }>('SELECT count(*) AS n FROM reactions WHERE seq = ? AND user_id = ?', targetSeq, actor.userId).one().n;
    if (mine >= LIMITS.maxReactionsPerUser) throw new AppError('forbidden', `At most ${LIMITS.maxReactionsPerUser} reactions per message.`);
    sql.exec('INSERT INTO reactions (seq, user_id, emoji, reacted_at) VALUES (?, ?, ?, ?)', targetSeq, actor.userId, emoji, now);
  } else {
    if (!has) return null;
    sql.exec('DELETE FROM reactions WHERE seq = ? AND user_id = ? AND emoji = ?', targetSeq, actor.userId, emoji);
  }
  return log.append(store, { type: 'reaction', ts: now, author: { userId: actor.userId, deviceId: actor.deviceId }, targetSeq, emoji, op });
}

function reactionsOf(sql: SqlStorage, seq: number): Reaction[] {
  return reactionsBetween(sql, seq, seq).get(seq) ?? [];
}

// ── Rendering ────────────────────────────────────────────────────────────────

/**
 * Events as a viewer sees them now: each message in its current state (latest text and
 * `edited`, or a tombstone, or `hidden` for what the viewer hid; reactions; the reply's
 * quote). `viewerId` null renders for everyone (broadcasts).
 */
export function render(sql: SqlStorage, events: ConversationEvent[], viewerId: string | null): ConversationEvent[] {
  return renderEach(sql, events, viewerId, (message, known) => renderMessage(sql, message, viewerId, known));
}

/**
 * Events as they were when they happened, minus what has since been taken away for this
 * viewer: what live wires carry (the fan-out to members' queues), so the same script
 * gives the same stream whenever a pass runs. A message keeps the content it was sent
 * with and its reply the quote of that moment; edits and reactions arrive as their own
 * events. But a message deleted or moderated since is a tombstone, one the viewer hid is
 * `hidden`, and an edit of either carries no text. (History, by contrast, shows each
 * message as it is now: `render`.)
 */
export function renderAsSent(sql: SqlStorage, events: ConversationEvent[], viewerId: string | null): ConversationEvent[] {
  return renderEach(sql, events, viewerId, (message, known) => {
    const removed = removedView(message, known);
    if (removed) return removed;
    const out: MessageEvent = { type: 'message', seq: message.seq, ts: message.ts, author: message.author, cmid: message.cmid };
    if (message.content) out.content = message.content;
    if (message.replyTo) out.replyTo = replyRef(sql, message.replyTo.seq, message.seq);
    return out;
  });
}

/** Renders each message with `message`, each edit with its text only where its message still shows. */
function renderEach(sql: SqlStorage, events: ConversationEvent[], viewerId: string | null, message: (stored: MessageEvent, known: Annotations) => MessageEvent): ConversationEvent[] {
  const seqs = events.flatMap((e) => (e.type === 'message' ? [e.seq] : e.type === 'message_edited' ? [e.targetSeq] : []));
  const known = seqs.length > 0 ? annotationsBetween(sql, viewerId, Math.min(...seqs), Math.max(...seqs)) : perSeq(sql, viewerId);
  return events.map((event) => {
    if (event.type === 'message') return message(event, known);
    // An edit carries the text of its message: not for a viewer who hid the message, nor
    // once the message is deleted (moderated content is kept in the row for a while).
    if (event.type === 'message_edited' && event.content && (known.hidden(event.targetSeq) || known.state(event.targetSeq)?.deleted_scope)) {
      const { content: _content, ...rest } = event;
      return rest;
    }
    return event;
  });
}

/** A message as a viewer sees it when they may not read it: `hidden` (they hid it) or a tombstone; null when they may. */
function removedView(stored: MessageEvent, known: Annotations): MessageEvent | null {
  const base: MessageEvent = { type: 'message', seq: stored.seq, ts: stored.ts, author: stored.author, cmid: stored.cmid };
  if (known.hidden(stored.seq)) return { ...base, hidden: true };
  const state = known.state(stored.seq);
  if (!state?.deleted_scope) return null;
  return { ...base, deleted: { scope: state.deleted_scope, seq: state.deleted_seq ?? 0, at: state.deleted_at ?? 0, by: state.deleted_by ?? '' } };
}

/** What rendering a message needs besides the message: whether the viewer hid it, its state, its reactions. */
interface Annotations {
  hidden(seq: number): boolean;
  state(seq: number): StateRow | null;
  reactions(seq: number): Reaction[];
}

/** One query each, per message: for a single message. */
function perSeq(sql: SqlStorage, viewerId: string | null): Annotations {
  return {
    hidden: (seq) => viewerId !== null && hiddenFor(sql, viewerId, seq),
    state: (seq) => stateOf(sql, seq),
    reactions: (seq) => reactionsOf(sql, seq),
  };
}

/** Three queries for a whole page (a history page of 100 made 300 before). */
function annotationsBetween(sql: SqlStorage, viewerId: string | null, from: number, to: number): Annotations {
  const hidden = new Set(
    viewerId === null
      ? []
      : sql.exec<{ seq: number }>('SELECT seq FROM hidden_messages WHERE user_id = ? AND seq BETWEEN ? AND ?', viewerId, from, to).toArray().map((r) => r.seq),
  );
  const states = new Map(sql.exec<StateRow>('SELECT * FROM message_state WHERE seq BETWEEN ? AND ?', from, to).toArray().map((r) => [r.seq, r]));
  // Read on first use: rendering as sent (the fan-out) never asks for reactions.
  let reactions: Map<number, Reaction[]> | null = null;
  const reactionsOf = (seq: number) => {
    reactions ??= reactionsBetween(sql, from, to);
    return reactions.get(seq) ?? [];
  };
  return { hidden: (seq) => hidden.has(seq), state: (seq) => states.get(seq) ?? null, reactions: reactionsOf };
}

/**
 * The seqs between `from` and `to` that rendering for `viewerId` would change from the
 * message as stored: hidden by them, a state (edited, deleted, moderated), reactions.
 */
export function annotatedSeqs(sql: SqlStorage, viewerId: string, from: number, to: number): Set<number> {
  const rows = sql.exec<{ seq: number }>(
    `SELECT seq FROM hidden_messages WHERE user_id = ? AND seq BETWEEN ?2 AND ?3
     UNION SELECT seq FROM message_state WHERE seq BETWEEN ?2 AND ?3
     UNION SELECT seq FROM reactions WHERE seq BETWEEN ?2 AND ?3`,
    viewerId,
    from,
    to,
  );
  return new Set(Array.from(rows, (r) => r.seq));
}

function reactionsBetween(sql: SqlStorage, from: number, to: number): Map<number, Reaction[]> {
  const reactions = new Map<number, Reaction[]>();
  const rows = sql.exec<{ seq: number; emoji: string; user_id: string }>('SELECT seq, emoji, user_id FROM reactions WHERE seq BETWEEN ? AND ? ORDER BY seq, emoji, user_id', from, to);
  for (const row of rows) {
    const list = reactions.get(row.seq) ?? [];
    const last = list.at(-1);
    if (last?.emoji === row.emoji) last.userIds.push(row.user_id);
    else list.push({ emoji: row.emoji, userIds: [row.user_id] });
    reactions.set(row.seq, list);
  }
  return reactions;
}

export function renderMessage(sql: SqlStorage, stored: MessageEvent, viewerId: string | null, known: Annotations = perSeq(sql, viewerId)): MessageEvent {
  const removed = removedView(stored, known);
  if (removed) return removed;
  const state = known.state(stored.seq);
  const out: MessageEvent = { type: 'message', seq: stored.seq, ts: stored.ts, author: stored.author, cmid: stored.cmid };
  const content = currentContent(sql, stored, state);
  if (content) out.content = content;
  if (stored.replyTo) out.replyTo = replyRef(sql, stored.replyTo.seq);
  if (state?.last_edit_seq && state.edited_at !== null) out.edited = { seq: state.last_edit_seq, at: state.edited_at };
  const reactions = known.reactions(stored.seq);
  if (reactions.length > 0) out.reactions = reactions;
  return out;
}

/**
 * The list's preview of the last message a viewer may see, as it reads now (its latest
 * edit, or deleted: a moderated message's held content never shows), for conversations
 * that fan out on read, where no inbox row follows edits and deletes. A message the
 * viewer hid for themselves, or one by an author they blocked, is passed over (as the
 * inbox does on the write path, src/user/inbox.ts).
 */
export function lastPreview(sql: SqlStorage, viewerId: string, maxLength: number, blocked: ReadonlySet<string>): MessagePreview | null {
  const latest = sql.exec<{ seq: number; author_user: string }>(
    "SELECT seq, author_user FROM events WHERE type = 'message' AND seq NOT IN (SELECT seq FROM hidden_messages WHERE user_id = ?) ORDER BY seq DESC",
    viewerId,
  );
  // Read lazily: the first row by an author not blocked ends it.
  // Built from the stored message and its state: the query already passed over what the
  // viewer hid, and a preview needs no reactions or reply quote.
  for (const row of latest) {
    if (blocked.has(row.author_user)) continue;
    const state = stateOf(sql, row.seq);
    if (state?.deleted_scope) return deletedPreview(row.seq, row.author_user);
    const message = messageAt(sql, row.seq);
    return message ? previewOf({ seq: message.seq, author: message.author, content: currentContent(sql, message, state) }, maxLength) : null;
  }
  return null;
}

/** Messages at `seqs` rendered for a viewer (search results). */
export function messagesAt(sql: SqlStorage, seqs: number[], viewerId: string): MessageEvent[] {
  return seqs.flatMap((seq) => {
    const message = messageAt(sql, seq);
    return message ? [renderMessage(sql, message, viewerId)] : [];
  });
}

/** The sender and send time of a message, for receipts. */
export function messageInfo(sql: SqlStorage, seq: number): { seq: number; authorId: string; sentAt: number } {
  const message = requireMessage(sql, seq);
  return { seq, authorId: message.author.userId, sentAt: message.ts };
}
