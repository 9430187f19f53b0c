/**
 * Unread counts of conversations that fan out on write, kept in each member's UserDO as
 * the seqs after their read watermark (the newest INBOX.maxUnreadCount of them).
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { createGroup, json, openWindow, summaryOf } from './helpers.js';
import { sendBurst, text } from './inbox-helpers.js';
import { serviceUser } from './abuse-helpers.js';
import { INBOX, type Session } from '../../src/protocol/index.js';
import { USER_MIGRATIONS } from '../../src/user/schema.js';

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const read = (s: Session, id: string, seq: number) => env.USERS.getByName(s.user.id).apply([{ type: 'read', conversationId: id, seq, ts: Date.now() }]);

describe('unread counts', () => {
  it('count messages from others after the read watermark; reading part of them and writing move it', async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const id = await createGroup(alice, [bob], 'counts');
    const window = await openWindow(alice, id);
    await sendBurst(window, 5, 'one');
    await until('five unread', async () => (await summaryOf(bob, id))?.unreadCount === 5);
    await read(bob, id, 3);
    expect(await summaryOf(bob, id)).toMatchObject({ unreadCount: 2, readSeq: 3 });
    // A watermark never moves back.
    await read(bob, id, 1);
    expect(await summaryOf(bob, id)).toMatchObject({ unreadCount: 2, readSeq: 3 });
    await json(`/v1/conversations/${id}/messages`, { token: bob.accessToken, body: { cmid: crypto.randomUUID(), content: text('mine') } }, 201);
    await until('read by writing', async () => (await summaryOf(bob, id))?.unreadCount === 0);
    // The writer's own messages are never unread to them. Alice watches in her window, so
    // her list may hear of bob's message up to FANOUT.watchingIntervalMs later.
    await until('bob\'s message on alice\'s list', async () => (await summaryOf(alice, id))?.lastSeq === 6);
    expect((await summaryOf(alice, id))?.unreadCount).toBe(1);
    window.close();
  });

  it(`stop at ${INBOX.maxUnreadCount} and stay exact below it as the watermark moves`, async () => {
    const [alice, bob] = [await serviceUser('alice'), await serviceUser('bob')];
    const id = await createGroup(alice, [bob], 'many');
    const window = await openWindow(alice, id);
    const total = INBOX.maxUnreadCount + 6;
    await sendBurst(window, total, 'many');
    // Every message applied (the count reaches the cap before the last ones arrive), and capped.
    await until('all applied', async () => (await summaryOf(bob, id))?.lastSeq === total, 30_000);
    expect((await summaryOf(bob, id))?.unreadCount).toBe(INBOX.maxUnreadCount);
    await read(bob, id, 10);
    expect((await summaryOf(bob, id))?.unreadCount).toBe(total - 10);
    await read(bob, id, total - 4);
    expect((await summaryOf(bob, id))?.unreadCount).toBe(4);
    window.close();
  });

  it('the v4 migration moves the unread rows of v3 into the rows, newest kept, ascending', async () => {
    const stub = env.USERS.getByName(`unread-migration-${crypto.randomUUID()}`);
    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec('CREATE TABLE unread (conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (conversation_id, seq)) WITHOUT ROWID');
      sql.exec("INSERT INTO conversations (conversation_id, kind, role, joined_at, membership_seq, read_seq) VALUES ('few', 'group', 'member', 0, 0, 2), ('lots', 'group', 'member', 0, 0, 0), ('none', 'group', 'member', 0, 0, 0)");
      for (const seq of [1, 2, 3, 5, 8]) sql.exec("INSERT INTO unread VALUES ('few', ?)", seq);
      for (let seq = 1; seq <= 1_005; seq++) sql.exec("INSERT INTO unread VALUES ('lots', ?)", seq);
      const moveRows = USER_MIGRATIONS[3]!.find((statement) => statement.startsWith('UPDATE'))!;
      sql.exec(moveRows);
      const rows = new Map(sql.exec<{ conversation_id: string; unread: string }>('SELECT conversation_id, unread FROM conversations').toArray().map((r) => [r.conversation_id, JSON.parse(r.unread) as number[]]));
      expect(rows.get('few')).toEqual([3, 5, 8]);
      expect(rows.get('lots')).toEqual(Array.from({ length: 999 }, (_, i) => i + 7));
      expect(rows.get('none')).toEqual([]);
    });
  });
});
