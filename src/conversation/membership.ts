/**
 * @module conversation/membership
 * Creating the conversation and changing who is in it. Each change is an event in the
 * log and an update in the durable outbox for the member it concerns, written in one
 * transaction; the rules for who may change what are in ./members.ts.
 *
 * Blocks: nobody joins a conversation with someone who blocked them through a third
 * party's hands either. Creating a group with a member who blocked the creator, or adding
 * a user who blocked the one adding, is refused. The new member's block list comes with
 * them (the Worker reads the lists for a creation; an add awaits the user's UserDO, and
 * then checks everything again).
 */
import type { Env, Identity } from '../env.js';
import { AppError, attempt, fail, ok, type Result } from '../errors.js';
import { E2EE, LIMITS, type ConversationEvent, type ConversationInfo, type ConversationKind, type Member, type Role } from '../protocol/index.js';
import type { UserUpdate } from '../user/updates.js';
import * as blocks from './blocks.js';
import * as eventLog from './log.js';
import * as members from './members.js';
import { loadMeta, requireMeta, writeMeta } from './meta.js';
import * as outbox from './outbox.js';
import type { DeviceStandings } from './standing.js';
import type { ConversationStore } from './store.js';
import { admit, type Reader } from './visibility.js';

export interface CreateInit {
  id: string;
  kind: ConversationKind;
  title: string | null;
  creator: Identity;
  /** Members besides the creator (already checked to exist). */
  memberIds: string[];
  /** Every member's block list (the creator's included), as their UserDOs hold them. */
  blockLists: Record<string, string[]>;
  /** End-to-end encrypted (fixed here, never turned off): only `encrypted` content, at most E2EE.maxEncryptedGroupMembers members. */
  encrypted?: boolean;
  /** A broadcast channel (a group whose owner and admins alone post): fixed here. */
  broadcast?: boolean;
}

/** The most members a conversation may have: fewer for an end-to-end encrypted one (Sender Keys are distributed per device). */
export function memberCap(encrypted: boolean): number {
  return encrypted ? Math.min(E2EE.maxEncryptedGroupMembers, LIMITS.maxGroupMembers) : LIMITS.maxGroupMembers;
}

export const TOO_MANY_ENCRYPTED = `End-to-end encrypted groups are limited to ${memberCap(true)} members.`;

type Change = { type: 'member_added'; userId: string; role: Role } | { type: 'member_removed'; userId: string } | { type: 'role_changed'; userId: string; role: Role };

const BLOCKED_ADD = 'You cannot add this user to a conversation.';

export class Membership {
  constructor(
    private readonly store: ConversationStore,
    private readonly env: Env,
    private readonly standings: DeviceStandings,
    /** Shows new events to the open windows and held feed reads. */
    private readonly announce: (events: ConversationEvent[]) => void,
  ) {}

  /** Creates the conversation; creating an existing direct conversation returns it. */
  create(init: CreateInit): Result<ConversationInfo> {
    const existing = loadMeta(this.store);
    const encrypted = init.encrypted === true;
    if (existing) {
      return existing.kind === 'direct' && init.kind === 'direct' && existing.encrypted === encrypted && members.member(this.store, init.creator.userId)
        ? ok(this.describe())
        : fail('conflict', 'This conversation already exists.');
    }
    const all = [init.creator.userId, ...init.memberIds.filter((id) => id !== init.creator.userId)];
    if (encrypted && all.length > memberCap(true)) return fail('too_many_members', TOO_MANY_ENCRYPTED);
    if (all.some((id) => init.blockLists[id]?.includes(init.creator.userId))) return fail('forbidden', BLOCKED_ADD);
    const now = Date.now();
    const creatorRole: Role = init.kind === 'group' ? 'owner' : 'member';
    this.store.transaction(() => {
      writeMeta(this.store, { id: init.id, kind: init.kind, title: init.title, createdAt: now, encrypted, broadcast: init.kind === 'group' && init.broadcast === true });
      all.forEach((userId, i) => members.putMember(this.store, { userId, role: i === 0 ? creatorRole : 'member', joinedAt: now }));
      for (const userId of all) {
        if (init.blockLists[userId]) blocks.replace(this.store, userId, init.blockLists[userId]);
        const role = userId === init.creator.userId ? creatorRole : 'member';
        outbox.enqueue(this.store, userId, this.update(userId, role, 0, now, all), now);
      }
    });
    return ok(this.describe());
  }

  /**
   * Adds a member (owners and admins of a group). The user's block list is awaited from
   * their UserDO; everything checked before is checked again after that.
   */
  async add(actor: Reader, userId: string, role: Role): Promise<Result<ConversationInfo>> {
    const check = () => {
      const meta = requireMeta(this.store);
      members.assertCanAdd(meta.kind, admit(this.store, this.standings, actor));
      if (members.member(this.store, userId)) throw new AppError('conflict', 'That user is already a member.');
      if (members.memberCount(this.store) >= LIMITS.maxGroupMembers) {
        throw new AppError('forbidden', `Groups are limited to ${LIMITS.maxGroupMembers} members.`);
      }
      if (meta.encrypted && members.memberCount(this.store) >= memberCap(true)) throw new AppError('too_many_members', TOO_MANY_ENCRYPTED);
    };
    const before = attempt(check);
    if (!before.ok) return before;
    const list = await this.env.USERS.getByName(userId).blockedIds();
    if (list.includes(actor.userId)) return fail('forbidden', BLOCKED_ADD);
    return attempt(() => {
      check();
      this.change(actor, { type: 'member_added', userId, role }, () => {
        members.putMember(this.store, { userId, role, joinedAt: Date.now() });
        blocks.replace(this.store, userId, list);
      });
      return this.describe();
    });
  }

  /** Removes a member, or lets a member leave (actor === userId). Returns the removal event. */
  remove(actor: Reader, userId: string): ConversationEvent {
    const meta = requireMeta(this.store);
    const actorMember = admit(this.store, this.standings, actor);
    const target = members.member(this.store, userId);
    if (!target) throw new AppError('not_found', 'That user is not a member.');
    members.assertCanRemove(meta.kind, actorMember, target);
    const heir = target.role === 'owner' ? members.successor(this.store, userId) : null;
    const event = this.change(actor, { type: 'member_removed', userId }, () => members.deleteMember(this.store, userId));
    if (heir) this.change(actor, { type: 'role_changed', userId: heir.userId, role: 'owner' }, () => members.putMember(this.store, { ...heir, role: 'owner' }));
    return event;
  }

  setRole(actor: Reader, userId: string, role: Exclude<Role, 'owner'>): Member {
    const meta = requireMeta(this.store);
    const target = members.member(this.store, userId);
    if (!target) throw new AppError('not_found', 'That user is not a member.');
    members.assertCanSetRole(meta.kind, admit(this.store, this.standings, actor), target);
    const updated = { ...target, role };
    this.change(actor, { type: 'role_changed', userId, role }, () => members.putMember(this.store, updated));
    return updated;
  }

  describe(): ConversationInfo {
    const meta = requireMeta(this.store);
    // A channel's members are not listed whole: the first page, and GET /members for the rest.
    const listed = members.memberPage(this.store, null, LIMITS.maxListedMembers).members;
    return { ...meta, lastSeq: eventLog.lastSeq(this.store), members: listed, memberCount: members.memberCount(this.store) };
  }

  /** Applies a membership change, logs it as an event and queues the member's update, in one transaction. */
  private change(actor: Identity, change: Change, apply: () => void): ConversationEvent {
    const now = Date.now();
    const author = { userId: actor.userId, deviceId: actor.deviceId };
    const event = this.store.transaction(() => {
      apply();
      const appended = eventLog.append(this.store, { ...change, ts: now, author });
      const role = change.type === 'member_removed' ? null : change.role;
      outbox.enqueue(this.store, change.userId, this.update(change.userId, role, appended.seq, now), now);
      return appended;
    });
    this.announce([event]);
    return event;
  }

  private update(userId: string, role: Role | null, seq: number, ts: number, all?: string[]): UserUpdate {
    const meta = requireMeta(this.store);
    const peerId = meta.kind === 'direct' ? ((all ?? members.memberIds(this.store)).find((id) => id !== userId) ?? null) : null;
    return { type: 'membership', conversationId: meta.id, conversationKind: meta.kind, title: meta.title, peerId, role, seq, ts, encrypted: meta.encrypted };
  }
}
