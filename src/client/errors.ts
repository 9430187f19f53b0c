/**
 * @module client/errors
 * The SDK's one error class. Server errors keep the server's stable `code` (from
 * src/protocol/errors.ts); a code this SDK version does not know is kept as it came,
 * so a newer server never breaks an older client. Failures that never reached the
 * server use the few client codes below.
 */
import type { ErrorBody, ErrorCode } from '../protocol/index.js';

/**
 * Codes for failures on the client's side of the wire:
 * `network` (the request did not complete), `invalid_response` (the server's answer
 * did not match the protocol), `closed` (the client or conversation was closed while
 * the call was pending).
 */
export type ClientErrorCode = 'network' | 'invalid_response' | 'closed';

/** A server code, a client code, or (from a newer server) a code this SDK does not know yet. */
export type ChatErrorCode = ErrorCode | ClientErrorCode | (string & {});

export interface ChatErrorDetails {
  /** HTTP status, for errors that came as an HTTP answer. */
  status?: number;
  /** For `rate_limited`: when the same request can succeed. */
  retryAfterMs?: number;
  /** For `invalid_request`: where the input was wrong. */
  issues?: ErrorBody['issues'];
  /** The server's request id, to quote in a bug report. */
  requestId?: string;
  cause?: unknown;
}

/**
 * @example
 * try { await chat.send('hi') } catch (e) { if (e instanceof ChatError && e.code === 'rate_limited') … }
 */
export class ChatError extends Error {
  readonly code: ChatErrorCode;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly issues: ErrorBody['issues'] | undefined;
  readonly requestId: string | undefined;

  constructor(code: ChatErrorCode, message: string, details: ChatErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ChatError';
    this.code = code;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.issues = details.issues;
    this.requestId = details.requestId;
  }
}

/**
 * Errors after which retrying the same send can succeed. Everything else is final for
 * that message: the server will answer the same way again.
 */
export function isRetryable(code: ChatErrorCode): boolean {
  return code === 'rate_limited' || code === 'internal' || code === 'network';
}
