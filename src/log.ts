/**
 * @module log
 * The worker's one logger: a JSON line per call, with a level, an event name and named
 * fields. Fields are ids, counts and short reasons only: never message bodies, tokens or
 * secrets (test/worker/logs.test.ts reads every call in the source and checks the names).
 *
 * Every line written while a request id is in scope carries it as `requestId`: the
 * Worker puts each request's id in scope for the whole request (src/index.ts), and an
 * object or the push consumer does for work it was handed with one (`withRequestId`), so
 * one id follows a request across the Worker, the objects it called and the push queue.
 * The scope is an AsyncLocalStorage (nodejs_compat), which follows awaits and
 * `waitUntil` work started inside it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** What a log line may carry besides its event: ids, counts, flags and short reasons. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

type Level = 'info' | 'warn' | 'error';

const scope = new AsyncLocalStorage<string>();

/** Runs `fn` with `requestId` on every log line it writes (none: as it is). */
export function withRequestId<T>(requestId: string | undefined, fn: () => T): T {
  return requestId ? scope.run(requestId, fn) : fn();
}

/** The request id in scope, to hand on to an object or a queue message. */
export function currentRequestId(): string | undefined {
  return scope.getStore();
}

/** What an RPC call carries of the request that made it: its id (the callee logs it with `withRequestId`). */
export interface Trace {
  rid?: string;
}

/** The `Trace` of the request in scope, for an RPC argument. */
export function trace(): Trace {
  const rid = scope.getStore();
  return rid ? { rid } : {};
}

/** The header an upgrade forwarded to an object carries the request id in. */
export const REQUEST_ID_HEADER = 'x-request-id';

function write(level: Level, event: string, fields: LogFields): void {
  const requestId = scope.getStore();
  const line = JSON.stringify({ level, event, ...(requestId ? { requestId } : {}), ...fields });
  if (level === 'error') console.error(line);
  else if (level === 'warn') console.warn(line);
  else console.log(line);
}

/** A thrown value as a short reason: its name and message, never a stack or a payload. */
export function reason(err: unknown): string {
  return (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).slice(0, 300);
}

export const log = {
  info: (event: string, fields: LogFields = {}) => write('info', event, fields),
  warn: (event: string, fields: LogFields = {}) => write('warn', event, fields),
  error: (event: string, fields: LogFields = {}) => write('error', event, fields),
};
