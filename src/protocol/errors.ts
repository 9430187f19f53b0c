/**
 * @module protocol/errors
 * The service's error codes and WebSocket close codes. An error is always
 * `{ code, message }` plus optional details; the code is stable and documented,
 * the message is for humans and may change.
 */
import type { z } from 'zod';

/** Every error code, with the HTTP status it maps to. */
export const ERROR_STATUS = {
  invalid_json: 400,
  invalid_request: 400,
  seq_out_of_range: 400,
  unknown_frame_type: 400,
  json_too_deep: 400,
  frame_too_large: 413,
  payload_too_large: 413,
  unauthenticated: 401,
  invalid_credentials: 401,
  invalid_token: 401,
  invalid_ticket: 401,
  device_revoked: 401,
  forbidden: 403,
  invalid_upload_url: 403,
  origin_not_allowed: 403,
  not_found: 404,
  conversation_not_found: 404,
  user_not_found: 404,
  media_not_found: 404,
  method_not_allowed: 405,
  handle_taken: 409,
  conflict: 409,
  identity_key_mismatch: 409,
  device_limit: 409,
  prekey_limit: 409,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  upload_mismatch: 422,
  content_rejected: 422,
  /** Plain content sent to (or an edit of) an end-to-end encrypted conversation: only `encrypted` content is accepted there. */
  encryption_required: 422,
  /** `encrypted` content sent to a conversation that is not end-to-end encrypted. */
  encryption_not_enabled: 422,
  /** An envelope's entries name a non-member, the sending device itself, or one device twice. */
  invalid_envelope: 422,
  /** The conversation would have more members than it may (an end-to-end encrypted group: E2EE.maxEncryptedGroupMembers). */
  too_many_members: 422,
  search_unavailable: 409,
  window_expired: 403,
  upgrade_required: 426,
  rate_limited: 429,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

/** What travels on the wire for any error, over HTTP or WebSocket. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** Where in the input the problem is (zod issue paths), for `invalid_request`. */
  issues?: { path: (string | number)[]; message: string }[];
  /** For `rate_limited`: when the same request can succeed. */
  retryAfterMs?: number;
  /** For `content_rejected`: which filter rule the content broke (`blocked_term`, `too_many_links`, `repeated_text`). */
  rule?: string;
}

/**
 * WebSocket close codes. 1xxx are retryable by the SDK (with backoff); 4xxx are
 * terminal: the SDK must not reconnect the same way (it needs a new login, or the
 * user lost access).
 */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  serverError: 1011,
  serviceRestart: 1012,
  /** Not terminal: the server is full for now (a channel whose relays are all full); reconnect with backoff. */
  tryAgainLater: 1013,
  unauthenticated: 4001,
  forbidden: 4003,
  deviceRevoked: 4004,
  replaced: 4009,
} as const;

/** A zod failure as wire issues plus a one-line message naming the first problem. */
export function describeIssues(error: z.ZodError, what: string): { message: string; issues: NonNullable<ErrorBody['issues']> } {
  const issues = error.issues.slice(0, 20).map((issue) => ({
    path: issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)),
    message: issue.message,
  }));
  const first = issues[0];
  const where = first && first.path.length > 0 ? ` at ${first.path.join('.')}` : '';
  return { message: `${what}${where}: ${first?.message ?? 'unknown problem'}`, issues };
}

export function isTerminalClose(code: number): boolean {
  return code >= 4000 && code <= 4999;
}
