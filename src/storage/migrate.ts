/**
 * @module storage/migrate
 * Versioned schemas for Durable Object SQLite storage. Each object runs its list of
 * migrations at construction; the applied version is stored in the database itself, so
 * an object woken after a deploy upgrades its own schema before serving anything.
 * Migrations are append-only, like D1's.
 */

export type Migration = readonly string[];

export function migrate(storage: DurableObjectStorage, migrations: readonly Migration[]): void {
  storage.transactionSync(() => {
    const sql = storage.sql;
    sql.exec('CREATE TABLE IF NOT EXISTS _schema (version INTEGER NOT NULL)');
    const row = sql.exec<{ version: number }>('SELECT version FROM _schema').toArray()[0];
    const current = row?.version ?? 0;
    if (current > migrations.length) {
      throw new Error(`Storage schema v${current} is newer than this code (v${migrations.length}); refusing to run.`);
    }
    for (const migration of migrations.slice(current)) {
      for (const statement of migration) sql.exec(statement);
    }
    if (!row) sql.exec('INSERT INTO _schema (version) VALUES (?)', migrations.length);
    else if (current !== migrations.length) sql.exec('UPDATE _schema SET version = ?', migrations.length);
  });
}
