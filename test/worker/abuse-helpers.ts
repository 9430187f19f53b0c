/**
 * Helpers for the abuse-control tests: accounts of a given tier, and moving a user's
 * sends back in time so a window can pass without the test waiting a minute.
 */
import { env } from 'cloudflare:workers';
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import type { Session } from '../../src/protocol/index.js';
import { NEW_ACCOUNT_AGE_MS } from '../../src/ratelimit/rules.js';
import { registerUser } from './helpers.js';

/** Makes the account old enough for the `standard` tier (the tier is read on every request). */
export async function mature(session: Session): Promise<Session> {
  await env.DB.prepare('UPDATE users SET created_at = created_at - ? WHERE id = ?').bind(NEW_ACCOUNT_AGE_MS + 60_000, session.user.id).run();
  return session;
}

/** Marks the account as a service (bots, load tests): the `service` tier. */
export async function service(session: Session): Promise<Session> {
  await env.DB.prepare("UPDATE users SET trust = 'service' WHERE id = ?").bind(session.user.id).run();
  return session;
}

/**
 * Moves everything `userId` sent in `conversationIds` back by `ms`, in the logs and in the
 * UserDO's reports, and evicts the conversations (their leases are memory only): as if
 * `ms` had passed.
 */
export async function travel(userId: string, conversationIds: string[], ms: number): Promise<void> {
  for (const id of conversationIds) {
    const stub = env.CONVERSATIONS.getByName(id);
    await runInDurableObject(stub, (_i, state) => {
      state.storage.sql.exec("UPDATE events SET ts = ts - ? WHERE author_user = ? AND type = 'message'", ms, userId);
    });
    await evictDurableObject(stub);
  }
  await runInDurableObject(env.USERS.getByName(userId), (_i, state) => {
    const sql = state.storage.sql;
    for (const row of sql.exec<{ conversation_id: string; hits: string; texts: string }>('SELECT conversation_id, hits, texts FROM send_reports').toArray()) {
      const hits = (JSON.parse(row.hits) as number[]).map((t) => t - ms);
      const texts = (JSON.parse(row.texts) as { hash: string; at: number }[]).map((t) => ({ ...t, at: t.at - ms }));
      sql.exec(
        'UPDATE send_reports SET hits = ?, texts = ?, lease_expires_at = lease_expires_at - ? WHERE conversation_id = ?',
        JSON.stringify(hits),
        JSON.stringify(texts),
        ms,
        row.conversation_id,
      );
    }
  });
}

/** How many messages `userId` has stored in the conversation. */
export async function storedBy(conversationId: string, userId: string): Promise<number> {
  return runInDurableObject(env.CONVERSATIONS.getByName(conversationId), (_i, state) =>
    state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM events WHERE author_user = ? AND type = 'message'", userId).one().n,
  );
}

/** A registered service account, for delivery tests that send far past a person's limits. */
export async function serviceUser(prefix = 'user'): Promise<Session> {
  return service(await registerUser(prefix));
}
