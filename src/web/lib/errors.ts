/**
 * @module web/lib/errors
 * What the page says when something fails: the service's message, with its "try again
 * in 3424 s" put the way a person reads a wait ("in 58 min"), and a plain note for a
 * network failure. Pure, so it is unit tested in Node.
 */
import { ChatError } from '../../client/index.js';

/** A wait as a person says it: "12 s", "3 min", "2 h 5 min". */
export function waitText(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 90) return `${seconds} s`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 90) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? `${hours} h` : `${hours} h ${rest} min`;
}

export function errorText(error: unknown): string {
  if (error instanceof ChatError) {
    if (error.code === 'network') return 'Could not reach the service: check the connection and try again.';
    if (error.code === 'untrusted_identity') return 'Someone you verified has a new device or a new key: open the safety numbers (the lock) to check and accept it, then send again.';
    if (error.retryAfterMs !== undefined && /try again in \d+ s/.test(error.message)) return error.message.replace(/try again in \d+ s/, `try again in ${waitText(error.retryAfterMs)}`);
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
