/**
 * A history page as JSON text (the HTTP route's answer) is exactly the page as rendered
 * for its reader: plain messages are spliced from their stored text, the rest rendered.
 * Pinned against `historyPage` on a conversation with every kind of event and state,
 * for readers who see it differently, and for pages in both directions.
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { createGroup, json, partsOf } from './helpers.js';
import { serviceUser } from './abuse-helpers.js';
import { historyPage, historyPageJson } from '../../src/conversation/history.js';
import type { ConversationDO } from '../../src/conversation/ConversationDO.js';
import type { HistoryPage, HistoryQuery, Session } from '../../src/protocol/index.js';

const text = (t: string) => ({ type: 'text', text: t });

async function send(s: Session, id: string, body: Record<string, unknown>): Promise<number> {
  return (await json<{ seq: number }>(`/v1/conversations/${id}/messages`, { token: s.accessToken, body: { cmid: crypto.randomUUID(), ...body } }, 201)).seq;
}

describe('a history page as JSON text', () => {
  it('is the page rendered for its reader, for every kind of event, reader and direction', async () => {
    const [alice, bob, carol] = [await serviceUser('alice'), await serviceUser('bob'), await serviceUser('carol')];
    const id = await createGroup(alice, [bob, carol], 'every kind');
    const plain = await send(alice, id, { content: text('plain') });
    await send(bob, id, { content: text('looks like a "replyTo": and an "encrypted" body, but is plain') });
    await send(carol, id, { content: text('quoted next'), replyToSeq: plain });
    const edited = await send(alice, id, { content: text('before the edit') });
    await json(`/v1/conversations/${id}/messages/${edited}`, { token: alice.accessToken, method: 'PATCH', body: { content: text('after the edit') } }, 200);
    const deleted = await send(bob, id, { content: text('deleted for everyone') });
    await json(`/v1/conversations/${id}/messages/${deleted}?scope=everyone`, { token: bob.accessToken, method: 'DELETE' }, 200);
    const hidden = await send(carol, id, { content: text('hidden by alice') });
    await json(`/v1/conversations/${id}/messages/${hidden}?scope=me`, { token: alice.accessToken, method: 'DELETE' }, 200);
    const reacted = await send(bob, id, { content: text('reacted to') });
    await json(`/v1/conversations/${id}/messages/${reacted}/reactions`, { token: carol.accessToken, body: { emoji: '👍', op: 'add' } }, 200);
    // Bob blocks carol: her messages are withheld from him, and her reaction leaves his view.
    await json(`/v1/blocks/${carol.user.id}`, { token: bob.accessToken, method: 'PUT' }, 204);
    for (let i = 0; i < 6; i++) await send(i % 2 ? carol : alice, id, { content: text(`tail ${i}`) });
    await json(`/v1/conversations/${id}/members/${carol.user.id}`, { token: alice.accessToken, method: 'DELETE' }, 204);
    await send(alice, id, { content: text('after carol left') });

    const queries: HistoryQuery[] = [{ after: 0, limit: 100 }, { after: 3, limit: 4 }, { before: 12, limit: 5 }, { after: 2, before: 9 }, {}];
    const readers = [alice, bob].map((s) => ({ userId: s.user.id, deviceId: s.deviceId }));
    const compared = await runInDurableObject(env.CONVERSATIONS.getByName(id), (instance: ConversationDO) => {
      const { store } = partsOf(instance);
      return readers.flatMap((reader) =>
        queries.map((query) => ({ reader: reader.userId, query, text: JSON.parse(historyPageJson(store, query, reader)) as HistoryPage, page: historyPage(store, query, reader) })),
      );
    });
    for (const { reader, query, text: fromText, page } of compared) expect(fromText, `${reader} ${JSON.stringify(query)}`).toEqual(page);
    // What the pages hold differs by reader, so the comparison above saw each case.
    const all = (who: string) => compared.find((c) => c.reader === who && c.query.limit === 100)!.page.events;
    expect(all(alice.user.id).find((e) => e.seq === hidden)).toMatchObject({ hidden: true });
    expect(all(bob.user.id).find((e) => e.seq === hidden)).toMatchObject({ hidden: true });
    expect(all(bob.user.id).find((e) => e.seq === reacted)).not.toHaveProperty('reactions');
    expect(all(alice.user.id).find((e) => e.seq === reacted)).toMatchObject({ reactions: [{ emoji: '👍' }] });
    expect(all(alice.user.id).find((e) => e.seq === deleted)).toHaveProperty('deleted');
    expect(all(alice.user.id).find((e) => e.seq === edited)).toMatchObject({ content: text('after the edit'), edited: {} });

    // The route answers with that text, byte for byte.
    const res = await json<HistoryPage>(`/v1/conversations/${id}/events?after=0&limit=100`, { token: bob.accessToken }, 200);
    expect(res).toEqual(compared.find((c) => c.reader === bob.user.id && c.query.limit === 100)!.page);
  });
});
