import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { createDirect, createGroup, json, registerUser } from './helpers.js';
import { cmid, text } from './lifecycle-helpers.js';
import type { Session } from '../../src/protocol/index.js';

async function send(session: Session, id: string, body: string): Promise<number> {
  return (await json(`/v1/conversations/${id}/messages`, { token: session.accessToken, body: { cmid: cmid(), content: text(body) } }, 201)).seq;
}

const search = (session: Session, id: string, q: string, extra = '') =>
  json(`/v1/conversations/${id}/search?q=${encodeURIComponent(q)}${extra}`, { token: session.accessToken });

describe('search in a conversation', () => {
  it('finds a word, follows edits, forgets deletes, and pages newest first', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const hello = await send(alice, id, 'Héllo there, General Kenobi');
    const edited = await send(bob, id, 'meet at the harbour');
    const doomed = await send(alice, id, 'the harbour plan is secret');

    const found = await search(bob, id, 'hello');
    expect(found.results.map((m: any) => [m.seq, m.content.text])).toEqual([[hello, 'Héllo there, General Kenobi']]);
    expect((await search(bob, id, 'kenob')).results.map((m: any) => m.seq)).toEqual([hello]);

    await json(`/v1/conversations/${id}/messages/${edited}`, { token: bob.accessToken, method: 'PATCH', body: { content: text('meet at the lighthouse') } }, 200);
    expect((await search(alice, id, 'lighthouse')).results).toEqual([expect.objectContaining({ seq: edited, edited: expect.any(Object) })]);
    expect((await search(alice, id, 'harbour')).results.map((m: any) => m.seq)).toEqual([doomed]);

    await json(`/v1/conversations/${id}/messages/${doomed}`, { token: alice.accessToken, method: 'DELETE' }, 200);
    expect((await search(alice, id, 'harbour')).results).toEqual([]);
    expect((await search(alice, id, 'secret')).results).toEqual([]);

    for (let i = 0; i < 5; i++) await send(alice, id, `pager item ${i}`);
    const first = await search(alice, id, 'pager', '&limit=2');
    expect(first.results.map((m: any) => m.content.text)).toEqual(['pager item 4', 'pager item 3']);
    const second = await search(alice, id, 'pager', `&limit=2&before=${first.nextBefore}`);
    expect(second.results.map((m: any) => m.content.text)).toEqual(['pager item 2', 'pager item 1']);
    const third = await search(alice, id, 'pager', `&limit=2&before=${second.nextBefore}`);
    expect(third.results.map((m: any) => m.content.text)).toEqual(['pager item 0']);
    expect(third.nextBefore).toBeNull();

    // FTS syntax in the query is only ever words: quotes and stars are dropped, OR is a word.
    expect((await search(alice, id, 'pager"*')).results).toHaveLength(5);
    expect((await search(alice, id, 'pager OR NEAR(')).results).toEqual([]);
    expect((await search(alice, id, '!!!')).code).toBe('invalid_request');
  });

  it('never answers a non-member, and says plainly that encrypted conversations cannot be searched', async () => {
    const [alice, bob, eve] = [await registerUser('alice'), await registerUser('bob'), await registerUser('eve')];
    const id = await createDirect(alice, bob);
    await send(alice, id, 'private matter');
    const denied = await json(`/v1/conversations/${id}/search?q=private`, { token: eve.accessToken }, 404);
    expect(denied.code).toBe('conversation_not_found');
    expect(JSON.stringify(denied)).not.toContain('matter');

    await runInDurableObject(env.CONVERSATIONS.getByName(id), (_i, state) => {
      state.storage.sql.exec(`INSERT INTO meta (key, value) VALUES ('e2e', '1')`);
    });
    const e2e = await json(`/v1/conversations/${id}/search?q=private`, { token: alice.accessToken }, 409);
    expect(e2e.code).toBe('search_unavailable');
    expect(e2e.message).toMatch(/end-to-end encrypted/);
  });
});

describe('search across conversations', () => {
  it('fans in from the caller\'s conversations only', async () => {
    const [alice, bob, carol, eve] = [await registerUser('alice'), await registerUser('bob'), await registerUser('carol'), await registerUser('eve')];
    const word = `needle${crypto.randomUUID().slice(0, 6)}`;
    const direct = await createDirect(alice, bob);
    const group = await createGroup(alice, [bob, carol]);
    const evesOwn = await createDirect(eve, carol);
    await send(bob, direct, `a ${word} in the direct chat`);
    await send(carol, group, `a ${word} in the group`);
    await send(eve, evesOwn, `a ${word} alice must not see`);

    const mine = await json(`/v1/search?q=${word}`, { token: alice.accessToken }, 200);
    expect(mine.results.map((r: any) => r.conversationId).sort()).toEqual([direct, group].sort());
    expect(mine.results[0].message.content.text).toBe(`a ${word} in the group`);
    expect(mine).toMatchObject({ searched: 2, skipped: 0, unavailable: [] });

    const eves = await json(`/v1/search?q=${word}`, { token: eve.accessToken }, 200);
    expect(eves.results.map((r: any) => r.conversationId)).toEqual([evesOwn]);

    await runInDurableObject(env.CONVERSATIONS.getByName(direct), (_i, state) => {
      state.storage.sql.exec(`INSERT INTO meta (key, value) VALUES ('e2e', '1')`);
    });
    const partly = await json(`/v1/search?q=${word}`, { token: alice.accessToken }, 200);
    expect(partly).toMatchObject({ searched: 1, unavailable: [direct] });
    expect(partly.results.map((r: any) => r.conversationId)).toEqual([group]);
  });
});
