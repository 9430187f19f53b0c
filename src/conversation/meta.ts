/**
 * @module conversation/meta
 * What a conversation is: its id, kind, title, creation time, whether it is end-to-end
 * encrypted and whether only its admins post. Written once at creation, read by nearly every call: a fact of the store.
 */
import { AppError } from '../errors.js';
import type { ConversationKind } from '../protocol/index.js';
import { fact, type ConversationStore } from './store.js';

export interface Meta {
  id: string;
  kind: ConversationKind;
  title: string | null;
  createdAt: number;
  /** End-to-end encrypted: the server never inspects content (no filter, no search). */
  encrypted: boolean;
  /** A broadcast channel: only its owner and admins post; members read and react. */
  broadcast: boolean;
}

export const META = fact<Meta | null>('meta', (sql) => {
  const rows = sql.exec<{ key: string; value: string }>('SELECT key, value FROM meta').toArray();
  if (rows.length === 0) return null;
  const map = new Map(rows.map((r) => [r.key, r.value]));
  return {
    id: map.get('id')!,
    kind: map.get('kind') as ConversationKind,
    title: map.get('title') ?? null,
    createdAt: Number(map.get('created_at')),
    encrypted: map.get('e2e') === '1',
    broadcast: map.get('broadcast') === '1',
  };
});

/** Non-members get the same answer as for a conversation that does not exist. */
export const NOT_FOUND = 'No such conversation, or you are not a member.';

export function loadMeta(store: ConversationStore): Meta | null {
  return store.get(META);
}

export function requireMeta(store: ConversationStore): Meta {
  const meta = store.get(META);
  if (!meta) throw new AppError('conversation_not_found', NOT_FOUND);
  return meta;
}

/** Stores the meta of a new conversation (inside its creating transaction). */
export function writeMeta(store: ConversationStore, meta: Omit<Meta, 'encrypted' | 'broadcast'> & { encrypted?: boolean; broadcast?: boolean }): void {
  const rows: [string, string][] = [
    ['id', meta.id],
    ['kind', meta.kind],
    ['created_at', String(meta.createdAt)],
  ];
  if (meta.title !== null) rows.push(['title', meta.title]);
  if (meta.encrypted) rows.push(['e2e', '1']);
  if (meta.broadcast) rows.push(['broadcast', '1']);
  for (const [key, value] of rows) store.sql.exec('INSERT INTO meta (key, value) VALUES (?, ?)', key, value);
  store.forget(META);
}
