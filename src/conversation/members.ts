/**
 * @module conversation/members
 * Membership and roles, and the rules for who may change them. The rules are plain
 * functions so they can be read (and tested) apart from storage.
 */
import { AppError } from '../errors.js';
import type { ConversationKind, Member, Role } from '../protocol/index.js';
import { fact, type ConversationStore } from './store.js';

interface MemberRow {
  user_id: string;
  role: Role;
  joined_at: number;
  [key: string]: SqlStorageValue;
}

const RANK: Record<Role, number> = { owner: 3, admin: 2, member: 1 };

/**
 * The most members held in memory. Every send, broadcast and read checks membership, so
 * a conversation up to this size keeps them all as a fact (one map lookup a check); a
 * larger one (a channel of up to LIMITS.maxGroupMembers) looks each up by primary key
 * instead, so its memory does not grow with its audience.
 */
export const MEMBERS_IN_MEMORY = 1_000;

const ORDER = 'ORDER BY joined_at, user_id';

function toMember(row: MemberRow): Member {
  return { userId: row.user_id, role: row.role, joinedAt: row.joined_at };
}

/** Members by user id in join order, or null when there are more than MEMBERS_IN_MEMORY. */
export const MEMBERS = fact<Map<string, Member> | null>('members', (sql) => {
  const rows = sql.exec<MemberRow>(`SELECT * FROM members ${ORDER} LIMIT ?`, MEMBERS_IN_MEMORY + 1).toArray();
  return rows.length > MEMBERS_IN_MEMORY ? null : new Map(rows.map((row) => [row.user_id, toMember(row)]));
});

export const COUNT = fact<number>('members.count', (sql) => sql.exec<{ n: number }>('SELECT count(*) AS n FROM members').one().n);

export function member(store: ConversationStore, userId: string): Member | null {
  const all = store.get(MEMBERS);
  if (all) return all.get(userId) ?? null;
  const row = store.sql.exec<MemberRow>('SELECT * FROM members WHERE user_id = ?', userId).toArray()[0];
  return row ? toMember(row) : null;
}

export function memberCount(store: ConversationStore): number {
  return store.get(COUNT);
}

/**
 * A page of members in join order, after `cursor` (from the previous page's `next`); `next`
 * is null on the last page. The cursor names a position, not a member, so a page stays
 * right when the member it ended on has left since.
 */
export function memberPage(store: ConversationStore, cursor: MemberPosition | null, limit: number): { members: Member[]; next: MemberPosition | null } {
  // Before the first member: join times are never negative.
  const after = cursor ?? { joinedAt: -1, userId: '' };
  const rows = store.sql.exec<MemberRow>(`SELECT * FROM members WHERE (joined_at, user_id) > (?, ?) ${ORDER} LIMIT ?`, after.joinedAt, after.userId, limit + 1).toArray();
  const members = rows.slice(0, limit).map(toMember);
  const last = members.at(-1);
  return { members, next: rows.length > limit && last ? { joinedAt: last.joinedAt, userId: last.userId } : null };
}

/** A place in join order: a page's `next`, a round's progress. */
export interface MemberPosition {
  joinedAt: number;
  userId: string;
}

/** The wire form of a position (protocol MemberCursor): join time, a dot, user id. */
export function encodePosition(p: MemberPosition): string {
  return `${p.joinedAt}.${p.userId}`;
}

export function decodePosition(cursor: string): MemberPosition {
  const dot = cursor.indexOf('.');
  return { joinedAt: Number(cursor.slice(0, dot)), userId: cursor.slice(dot + 1) };
}

/**
 * Every member's id, in join order: only for work that is per member by nature and bounded
 * by a small conversation (fan-out on write, a direct conversation's pair).
 */
export function memberIds(store: ConversationStore): string[] {
  const all = store.get(MEMBERS);
  return all ? [...all.keys()] : store.sql.exec<{ user_id: string }>(`SELECT user_id FROM members ${ORDER}`).toArray().map((r) => r.user_id);
}

export function putMember(store: ConversationStore, next: Member): void {
  const known = member(store, next.userId);
  const count = memberCount(store);
  store.sql.exec(
    'INSERT INTO members (user_id, role, joined_at) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET role = excluded.role',
    next.userId,
    next.role,
    next.joinedAt,
  );
  if (!known) store.set(COUNT, count + 1);
  const all = store.get(MEMBERS);
  if (!all) return;
  if (!known && all.size >= MEMBERS_IN_MEMORY) return store.set(MEMBERS, null);
  // Join order is the map's order: a new member goes last, a role change keeps its place.
  all.set(next.userId, known ? { ...known, role: next.role } : next);
}

export function deleteMember(store: ConversationStore, userId: string): void {
  if (!member(store, userId)) return;
  const count = memberCount(store);
  store.sql.exec('DELETE FROM members WHERE user_id = ?', userId);
  store.set(COUNT, count - 1);
  const all = store.get(MEMBERS);
  if (all) all.delete(userId);
  // Back to MEMBERS_IN_MEMORY: read them into memory again on next use.
  else if (count - 1 <= MEMBERS_IN_MEMORY) store.forget(MEMBERS);
}

function requireGroup(kind: ConversationKind): void {
  if (kind !== 'group') throw new AppError('forbidden', 'Direct conversations have a fixed pair of members.');
}

export function assertCanAdd(kind: ConversationKind, actor: Member): void {
  requireGroup(kind);
  if (RANK[actor.role] < RANK.admin) throw new AppError('forbidden', 'Only owners and admins can add members.');
}

/** Members may leave; admins remove members; only the owner removes admins. */
export function assertCanRemove(kind: ConversationKind, actor: Member, target: Member): void {
  requireGroup(kind);
  if (actor.userId === target.userId) return;
  if (RANK[actor.role] < RANK.admin || RANK[actor.role] <= RANK[target.role]) {
    throw new AppError('forbidden', `A ${actor.role} cannot remove a ${target.role}.`);
  }
}

/** In a broadcast channel only the owner and admins post (send); anyone may in other conversations. */
export function assertCanPost(broadcast: boolean, poster: Member): void {
  if (broadcast && RANK[poster.role] < RANK.admin) throw new AppError('forbidden', 'Only the owner and admins post in this channel.');
}

export function assertCanSetRole(kind: ConversationKind, actor: Member, target: Member): void {
  requireGroup(kind);
  if (actor.role !== 'owner') throw new AppError('forbidden', 'Only the owner can change roles.');
  if (target.userId === actor.userId) throw new AppError('forbidden', 'The owner cannot change their own role.');
}

/** When the owner leaves, the longest-standing admin (else member) becomes owner. */
export function successor(store: ConversationStore, leaving: string): Member | null {
  const row = store.sql
    .exec<MemberRow>(`SELECT * FROM members WHERE user_id != ? ORDER BY CASE role WHEN 'admin' THEN 0 ELSE 1 END, joined_at, user_id LIMIT 1`, leaving)
    .toArray()[0];
  return row ? toMember(row) : null;
}
