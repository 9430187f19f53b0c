/**
 * Helpers for the receipts, lifecycle and search tests: big groups made through the
 * ConversationDO's RPC (members need no accounts to hold watermarks), and a dump of every
 * SQLite row of a conversation for "nothing left in storage" checks.
 */
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import type { Session } from '../../src/protocol/index.js';

export const text = (t: string) => ({ type: 'text' as const, text: t });
export const cmid = () => crypto.randomUUID();

/** The one device of a member made by `bigGroup`. */
export const deviceOf = (userId: string) => `d_${userId}`;

/** A member of a `bigGroup` acting from its device. */
export const asMember = (userId: string) => ({ userId, deviceId: deviceOf(userId) });

/**
 * A group owned by a real user, with `count` more members made straight in D1 (no
 * password hashing, so big groups are cheap): each has one device (`deviceOf`) and the
 * `service` tier, so the tests meet no limit meant for people.
 */
export async function bigGroup(owner: Session, count: number): Promise<{ id: string; memberIds: string[] }> {
  const id = `g_test_${crypto.randomUUID().replace(/-/g, '')}`;
  const tag = crypto.randomUUID().slice(0, 8);
  const memberIds = Array.from({ length: count }, (_, i) => `u_m${i}_${tag}`);
  const now = Date.now();
  await env.DB.batch(
    memberIds.flatMap((m) => [
      env.DB.prepare("INSERT INTO users (id, handle, display_name, password_hash, password_salt, password_params, created_at, trust) VALUES (?, ?, ?, '', '', '{}', ?, 'service')").bind(m, m.toLowerCase(), m, now),
      env.DB.prepare('INSERT INTO devices (id, user_id, name, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)').bind(deviceOf(m), m, 'test', now, now),
    ]),
  );
  const result = await env.CONVERSATIONS.getByName(id).create({
    id,
    kind: 'group',
    title: 'big group',
    creator: { userId: owner.user.id, deviceId: owner.deviceId },
    memberIds,
    blockLists: {},
  });
  if (!result.ok) throw new Error(result.error.message);
  return { id, memberIds };
}

/** Every value in every table of the conversation's SQLite database, as text (blobs as Latin-1). */
export async function dumpStorage(conversationId: string): Promise<{ tables: string[]; text: string }> {
  return runInDurableObject(env.CONVERSATIONS.getByName(conversationId), (_instance, state) => {
    const sql = state.storage.sql;
    const tables = sql
      .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table'`)
      .toArray()
      .map((r) => r.name)
      // The platform's own table (alarm metadata) is not readable from the object.
      .filter((name) => !name.startsWith('_cf_'));
    const parts: string[] = [];
    for (const table of tables) {
      for (const row of sql.exec(`SELECT * FROM "${table}"`).toArray()) {
        for (const value of Object.values(row)) {
          parts.push(`${table}: ${value instanceof ArrayBuffer ? String.fromCharCode(...new Uint8Array(value)) : String(value)}`);
        }
      }
    }
    return { tables, text: parts.join('\n') };
  });
}
