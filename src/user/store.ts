/**
 * @module user/store
 * The UserDO's storage as its modules see it: the SQL handle, transactions and the user
 * id. Every fact the object keeps lives in SQLite and is read where it is needed, so a
 * rolled-back transaction leaves nothing in memory to reset; what modules keep in memory
 * (held requests, in-flight calls, a display-name cache) is not a copy of stored facts.
 */
export class UserStore {
  readonly sql: SqlStorage;

  constructor(
    private readonly ctx: DurableObjectState,
  ) {
    this.sql = ctx.storage.sql;
  }

  /** Every stub is obtained with getByName(userId), so the object's name is the user id. */
  get userId(): string {
    const name = this.ctx.id.name;
    if (!name) throw new Error('UserDO must be addressed by name (the user id).');
    return name;
  }

  /** Runs `fn` as one SQLite transaction: all of it or none. */
  transaction<T>(fn: () => T): T {
    return this.ctx.storage.transactionSync(fn);
  }
}
