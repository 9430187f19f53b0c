/**
 * @module errors
 * The worker's one error type. It becomes an HTTP problem response in the app's error
 * handler and an error frame on sockets; Durable Object RPC methods return a `Result`
 * instead of throwing, because a thrown error loses its class across RPC.
 */
import { ERROR_STATUS, describeIssues, type ErrorBody, type ErrorCode } from './protocol/index.js';
import type { z } from 'zod';

export type ErrorDetails = Pick<ErrorBody, 'issues' | 'retryAfterMs' | 'rule'>;

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.name = 'AppError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message, ...this.details };
  }

  static from(body: ErrorBody): AppError {
    const { code, message, ...details } = body;
    return new AppError(code, message, details);
  }

  static invalid(error: z.ZodError): AppError {
    const { message, issues } = describeIssues(error, 'Invalid input');
    return new AppError('invalid_request', message, { issues });
  }
}

/** What a Durable Object RPC method returns: a value, or an error body to rethrow. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: ErrorBody };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = (code: ErrorCode, message: string, details: ErrorDetails = {}): Result<never> => ({
  ok: false,
  error: { code, message, ...details },
});

/** Runs `fn`, turning a thrown AppError into a failed Result (for RPC methods). */
export function attempt<T>(fn: () => T): Result<T> {
  try {
    return ok(fn());
  } catch (err) {
    if (err instanceof AppError) return { ok: false, error: err.toBody() };
    throw err;
  }
}

/** `attempt` for work that awaits: a rejected AppError becomes a failed Result, anything else still rejects. */
export async function attemptAsync<T>(fn: () => Promise<T>): Promise<Result<T>> {
  try {
    return ok(await fn());
  } catch (err) {
    if (err instanceof AppError) return { ok: false, error: err.toBody() };
    throw err;
  }
}

/** Unwraps an RPC Result in the worker, rethrowing failures as AppError. */
export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw AppError.from(result.error);
}
