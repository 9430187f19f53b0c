/**
 * @module log
 * The worker's one logger: a JSON line per call, with a level, an event name and named
 * fields. Fields are ids, counts and short reasons only: never message bodies, tokens or
 * secrets (test/worker/logs.test.ts reads every call in the source and checks the names).
 */

/** What a log line may carry besides its event: ids, counts, flags and short reasons. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

type Level = 'info' | 'warn' | 'error';

function write(level: Level, event: string, fields: LogFields): void {
  const line = JSON.stringify({ level, event, ...fields });
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
