import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { migrate } from '../../src/storage/migrate.js';
import { CONVERSATION_MIGRATIONS } from '../../src/conversation/schema.js';

describe('versioned Durable Object schemas', () => {
  it('a new object is at the latest version; later migrations apply once, in order', async () => {
    const stub = env.CONVERSATIONS.getByName(`schema-${crypto.randomUUID()}`);
    await runInDurableObject(stub, (_instance, state) => {
      const version = () => state.storage.sql.exec<{ version: number }>('SELECT version FROM _schema').one().version;
      expect(version()).toBe(CONVERSATION_MIGRATIONS.length);
      const next = [...CONVERSATION_MIGRATIONS, ['CREATE TABLE added_later (x INTEGER)'], ['INSERT INTO added_later VALUES (42)']];
      migrate(state.storage, next);
      migrate(state.storage, next);
      expect(version()).toBe(next.length);
      expect(state.storage.sql.exec('SELECT x FROM added_later').toArray()).toEqual([{ x: 42 }]);
    });
  });

  it('refuses to run code older than the stored schema', async () => {
    const stub = env.USERS.getByName(`schema-${crypto.randomUUID()}`);
    await runInDurableObject(stub, (_instance, state) => {
      expect(() => migrate(state.storage, [])).toThrow(/newer than this code/);
    });
  });

  it('a failed migration leaves the schema as it was', async () => {
    const stub = env.CONVERSATIONS.getByName(`schema-${crypto.randomUUID()}`);
    await runInDurableObject(stub, (_instance, state) => {
      const broken = [...CONVERSATION_MIGRATIONS, ['CREATE TABLE half (x INTEGER)', 'THIS IS NOT SQL']];
      expect(() => migrate(state.storage, broken)).toThrow();
      const tables = state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE name = 'half'").toArray();
      expect(tables).toEqual([]);
      expect(state.storage.sql.exec<{ version: number }>('SELECT version FROM _schema').one().version).toBe(CONVERSATION_MIGRATIONS.length);
    });
  });
});
