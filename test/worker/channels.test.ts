/**
 * Groups past what one page lists (LIMITS.maxListedMembers) and what the object keeps in
 * memory (MEMBERS_IN_MEMORY): membership is looked up by key, the member list is paged
 * in join order, receipts are counted over everyone, and activity hints go a page a pass.
 * A group of 1,200 is made through the conversation's own create call (the HTTP route
 * names at most maxListedMembers at once); its members beyond the two real accounts are
 * made-up ids, whose UserDOs take membership updates as any other.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { call, json, openWindow, partsOf, registerUser, storeFanoutTarget } from './helpers.js';
import { text } from './inbox-helpers.js';
import { LIMITS, type ConversationInfo, type Member, type MembersPage, type Session } from '../../src/protocol/index.js';
import type { ConversationDO } from '../../src/conversation/ConversationDO.js';
import * as members from '../../src/conversation/members.js';
import * as fanout from '../../src/conversation/fanout.js';
import type { UserUpdate } from '../../src/user/updates.js';
import { newGroupId } from '../../src/ids.js';

/** Past MEMBERS_IN_MEMORY and maxListedMembers (both 1,000), so paging and lookups by key are what run. */
const SIZE = 1_200;

/** A group of `SIZE`: `owner` first, `late` the last to join, made-up members between (their ids sort after real ones). */
async function bigGroup(owner: Session, late: Session): Promise<string> {
  const id = newGroupId();
  const others = Array.from({ length: SIZE - 2 }, (_, i) => `zz_crowd_${String(i).padStart(5, '0')}`);
  const created = await env.CONVERSATIONS.getByName(id).create({
    id,
    kind: 'group',
    title: 'a crowd',
    creator: { userId: owner.user.id, deviceId: owner.deviceId },
    memberIds: others,
    blockLists: {},
  });
  if (!created.ok) throw new Error(created.error.message);
  // Joins later than the crowd, through the route any admin uses.
  await json(`/v1/conversations/${id}/members`, { token: owner.accessToken, body: { userId: late.user.id } }, 201);
  return id;
}

async function everyPage(session: Session, id: string, limit?: number): Promise<{ pages: MembersPage[]; all: Member[] }> {
  const pages: MembersPage[] = [];
  let after: string | null = null;
  do {
    const query = new URLSearchParams({ ...(after ? { after } : {}), ...(limit ? { limit: String(limit) } : {}) });
    const page: MembersPage = await json(`/v1/conversations/${id}/members?${query}`, { token: session.accessToken }, 200);
    pages.push(page);
    after = page.next;
  } while (after && pages.length < 20);
  return { pages, all: pages.flatMap((p) => p.members) };
}

describe('a group past one page of members', () => {
  // One group for the file, its tests in order (the last ones remove members).
  let owner: Session;
  let late: Session;
  let id: string;
  beforeAll(async () => {
    [owner, late] = [await registerUser('owner'), await registerUser('late')];
    id = await bigGroup(owner, late);
  }, 120_000);

  it('lists its first page in its info, pages through everyone in join order, and keeps no member map in memory', async () => {
    const { conversation: info }: { conversation: ConversationInfo } = await json(`/v1/conversations/${id}`, { token: late.accessToken }, 200);
    expect(info.memberCount).toBe(SIZE);
    expect(info.members).toHaveLength(LIMITS.maxListedMembers);
    expect(info.members[0]?.userId).toBe(owner.user.id);

    const { pages, all } = await everyPage(late, id);
    expect(pages.map((p) => p.members.length)).toEqual([1_000, 200]);
    expect(pages.at(-1)?.next).toBeNull();
    expect(new Set(all.map((m) => m.userId)).size).toBe(SIZE);
    expect(all.at(-1)?.userId).toBe(late.user.id);
    const order = all.map((m) => [m.joinedAt, m.userId] as const);
    expect(order).toEqual([...order].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1)));

    const held = await runInDurableObject(env.CONVERSATIONS.getByName(id), (instance: ConversationDO) => {
      const store = partsOf(instance).store;
      return { map: store.get(members.MEMBERS), count: members.memberCount(store) };
    });
    expect(held).toEqual({ map: null, count: SIZE });
  });

  it('hints every member once a round, a page of FANOUT_HINT_BATCH per pass, from a cursor kept with the watermark', async () => {
    const seq = (await json(`/v1/conversations/${id}/messages`, { token: owner.accessToken, body: { cmid: crypto.randomUUID(), content: text('news') } }, 201)).seq;
    const round = await runInDurableObject(env.CONVERSATIONS.getByName(id), async (instance: ConversationDO) => {
      const store = partsOf(instance).store;
      // The alarm may have started this round already: start one of our own, spied on.
      store.sql.exec('UPDATE fanout_state SET done_seq = 0, hinted_at = 0, hint_after_joined_at = NULL, hint_after_user_id = NULL');
      store.forget(fanout.STATE);
      const hinted: string[] = [];
      const pages: number[] = [];
      const cursors: (members.MemberPosition | null)[] = [];
      await fanout.drain(
        storeFanoutTarget(store, id, {
          memberPage: (after, limit) => {
            const page = members.memberPage(store, after, limit);
            pages.push(page.members.length);
            return page;
          },
          tuning: { ...fanout.FANOUT_DEFAULTS, minPassIntervalMs: 0, passIntervalPerMemberMs: 0, hintBatch: 500 },
          viewsOf: () => () => [],
          deliver: async (userId: string, update: UserUpdate) => {
            if (update.type !== 'activity' || update.seq !== seq) throw new Error('not the hint expected');
            hinted.push(userId);
            cursors.push(fanout.state(store).hintAfter);
          },
        }),
      );
      return { hinted, pages, cursors, after: fanout.state(store), lastSeq: seq };
    });
    expect(round.pages).toEqual([500, 500, 200]);
    expect(round.hinted).toHaveLength(SIZE);
    expect(new Set(round.hinted).size).toBe(SIZE);
    // While a page's calls are out, the cursor already names its last member (a pass
    // interrupted by an eviction goes on from the next page).
    expect(round.cursors[0]).toMatchObject({ userId: round.hinted[499] });
    expect(round.after).toEqual({ doneSeq: round.lastSeq, hintedAt: expect.any(Number), hintAfter: null });
  });
  it('a page holds when the member it ended on leaves; a made-up cursor or limit is refused', async () => {
    const first: MembersPage = await json(`/v1/conversations/${id}/members?limit=100`, { token: late.accessToken }, 200);
    const leaving = first.members.at(-1)!.userId;
    await json(`/v1/conversations/${id}/members/${leaving}`, { token: owner.accessToken, method: 'DELETE' }, 204);
    const second: MembersPage = await json(`/v1/conversations/${id}/members?limit=100&after=${first.next}`, { token: late.accessToken }, 200);
    const { all } = await everyPage(late, id, 1_000);
    const index = all.findIndex((m) => m.userId === second.members[0]!.userId);
    expect(all.slice(index - 1, index).map((m) => m.userId)).toEqual([first.members.at(-2)!.userId]);
    expect(second.memberCount).toBe(SIZE - 1);

    for (const query of ['after=not-a-cursor', 'limit=0', `limit=${LIMITS.maxListedMembers + 1}`, 'page=2']) {
      const res = await call(`/v1/conversations/${id}/members?${query}`, { token: late.accessToken });
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe('invalid_request');
    }
  });

  it('checks membership by key: the late joiner sends, a stranger and a removed member are refused; receipts count everyone', async () => {
    const stranger = await registerUser('stranger');
    const ack = await json(`/v1/conversations/${id}/messages`, { token: late.accessToken, body: { cmid: crypto.randomUUID(), content: text('hello, crowd') } }, 201);
    const refused = await call(`/v1/conversations/${id}/messages`, { token: stranger.accessToken, body: { cmid: crypto.randomUUID(), content: text('let me in') } });
    expect(((await refused.json()) as { code: string }).code).toBe('conversation_not_found');

    await json(`/v1/conversations/${id}/read`, { token: owner.accessToken, body: { seq: ack.seq } }, 200);
    const detail = await json(`/v1/conversations/${id}/messages/${ack.seq}/receipts`, { token: late.accessToken }, 200);
    // Everyone but the author and the member who left in the test before.
    expect(detail.recipients).toBe(SIZE - 2);
    expect(detail.read).toBe(1);
    expect(detail.members).toHaveLength(LIMITS.maxListedMembers);
    expect(detail.members.find((m: { userId: string }) => m.userId === owner.user.id)?.readAt).toBeTypeOf('number');
    const overview = await json(`/v1/conversations/${id}/receipts`, { token: late.accessToken }, 200);
    expect(overview.watermarks).toHaveLength(LIMITS.maxListedMembers);

    await json(`/v1/conversations/${id}/members/${late.user.id}`, { token: late.accessToken, method: 'DELETE' }, 204);
    const gone = await call(`/v1/conversations/${id}/messages`, { token: late.accessToken, body: { cmid: crypto.randomUUID(), content: text('still here?') } });
    expect(((await gone.json()) as { code: string }).code).toBe('conversation_not_found');
  });

});

describe('a broadcast channel', () => {
  it('takes posts from its owner and admins only, over every wire; members read and react; a refused post stores nothing', async () => {
    const [owner, reader, other] = [await registerUser('owner'), await registerUser('reader'), await registerUser('other')];
    const created = await json(
      '/v1/conversations',
      { token: owner.accessToken, body: { kind: 'group', title: 'news', memberIds: [reader.user.id, other.user.id], broadcast: true } },
      201,
    );
    const id: string = created.conversation.id;
    expect(created.conversation.broadcast).toBe(true);
    const post = (s: Session, t: string) => call(`/v1/conversations/${id}/messages`, { token: s.accessToken, body: { cmid: crypto.randomUUID(), content: text(t) } });

    const first = await post(owner, 'the first issue');
    expect(first.status).toBe(201);
    const seq = ((await first.json()) as { seq: number }).seq;
    const refused = await post(reader, 'may I?');
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: 'forbidden', message: 'Only the owner and admins post in this channel.' });
    const window = await openWindow(reader, id);
    window.send({ type: 'send', rid: 'r1', cmid: crypto.randomUUID(), content: text('over the socket, then') });
    expect(await window.next('error', (f) => f.rid === 'r1')).toMatchObject({ code: 'forbidden' });
    await json(`/v1/conversations/${id}/messages/${seq}/reactions`, { token: reader.accessToken, body: { emoji: '👍' } }, 200);
    const { conversation } = await json(`/v1/conversations/${id}`, { token: reader.accessToken }, 200);
    // The reaction is the only event after the post: nothing refused was stored.
    expect(conversation.lastSeq).toBe(seq + 1);

    // The role changes while the window stays open: its next send follows the role now.
    await json(`/v1/conversations/${id}/members/${reader.user.id}`, { token: owner.accessToken, method: 'PATCH', body: { role: 'admin' } }, 200);
    expect((await post(reader, 'now an admin')).status).toBe(201);
    window.send({ type: 'send', rid: 'r2', cmid: crypto.randomUUID(), content: text('an admin, over the socket') });
    await window.next('ack', (f) => f.rid === 'r2');
    await json(`/v1/conversations/${id}/members/${reader.user.id}`, { token: owner.accessToken, method: 'PATCH', body: { role: 'member' } }, 200);
    expect((await post(reader, 'a member again')).status).toBe(403);
    window.send({ type: 'send', rid: 'r3', cmid: crypto.randomUUID(), content: text('a member again, over the socket') });
    expect(await window.next('error', (f) => f.rid === 'r3')).toMatchObject({ code: 'forbidden' });
    window.close();
  });

  it('is a group: a direct conversation cannot be one', async () => {
    const [a, b] = [await registerUser('a'), await registerUser('b')];
    const res = await call('/v1/conversations', { token: a.accessToken, body: { kind: 'direct', peerId: b.user.id, broadcast: true } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('invalid_request');
    const group = await json('/v1/conversations', { token: a.accessToken, body: { kind: 'group', title: 'chat', memberIds: [b.user.id] } }, 201);
    expect(group.conversation.broadcast).toBe(false);
  });
});
