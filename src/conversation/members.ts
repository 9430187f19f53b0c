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
 * Members by user id, in join order: every send, broadcast and read checks membership,
 * so it is a fact of the store, moved by `putMember` and `deleteMember`.
 */
export const MEMBERS = fact<Map<string, Member>>('members', (sql) => {
  const rows = sql.exec<MemberRow>('SELECT * FROM members ORDER BY joined_at, user_id').toArray();
  return new Map(rows.map((row) => [row.user_id, { userId: row.user_id, role: row.role, joinedAt: row.joined_at }]));
});

export function member(store: ConversationStore, userId: string): Member | null {
  return store.get(MEMBERS).get(userId) ?? null;
}

export function listMembers(store: ConversationStore): Member[] {
  return [...store.get(MEMBERS).values()];
}

export function memberIds(store: ConversationStore): string[] {
  return [...store.get(MEMBERS).keys()];
}

export function memberCount(store: ConversationStore): number {
  return store.get(MEMBERS).size;
}

export function putMember(store: ConversationStore, next: Member): void {
  store.sql.exec(
    'INSERT INTO members (user_id, role, joined_at) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET role = excluded.role',
    next.userId,
    next.role,
    next.joinedAt,
  );
  // Join order is the map's order: a new member goes last, a role change keeps its place.
  const map = store.get(MEMBERS);
  const known = map.get(next.userId);
  map.set(next.userId, known ? { ...known, role: next.role } : next);
}

export function deleteMember(store: ConversationStore, userId: string): void {
  store.sql.exec('DELETE FROM members WHERE user_id = ?', userId);
  store.get(MEMBERS).delete(userId);
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

export function assertCanSetRole(kind: ConversationKind, actor: Member, target: Member): void {
  requireGroup(kind);
  if (actor.role !== 'owner') throw new AppError('forbidden', 'Only the owner can change roles.');
  if (target.userId === actor.userId) throw new AppError('forbidden', 'The owner cannot change their own role.');
}

/** When the owner leaves, the longest-standing admin (else member) becomes owner. */
export function successor(members: Member[], leaving: string): Member | null {
  const rest = members.filter((m) => m.userId !== leaving);
  const ranked = [...rest].sort((a, b) => RANK[b.role] - RANK[a.role] || a.joinedAt - b.joinedAt);
  return ranked[0] ?? null;
}
