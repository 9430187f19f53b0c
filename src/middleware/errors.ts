/**
 * @module middleware/errors
 * Turns every error into a JSON problem body (`application/problem+json`) with a stable
 * code. Unexpected errors are logged with the request id, route, reason and stack: never a
 * token, password or message body.
 */
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError } from '../errors.js';
import type { AppBindings } from '../env.js';
import { log, reason } from '../log.js';
import { record } from '../metrics.js';

export function problem(c: Context<AppBindings>, error: AppError): Response {
  // Every refusal and fault the Worker answers, by code and route pattern (never the path: ids are in it).
  record(c.env, { kind: 'rejection', wire: 'http', code: error.code, route: `${c.req.method} ${c.req.routePath}` });
  const body = { ...error.toBody(), status: error.status, requestId: c.get('requestId') };
  const headers: Record<string, string> = { 'Content-Type': 'application/problem+json' };
  if (error.details.retryAfterMs !== undefined) headers['Retry-After'] = String(Math.ceil(error.details.retryAfterMs / 1000));
  return c.body(JSON.stringify(body), error.status as ContentfulStatusCode, headers);
}

export const onError: ErrorHandler<AppBindings> = (err, c) => {
  if (err instanceof AppError) return problem(c, err);
  if (err instanceof HTTPException && err.status === 413) {
    return problem(c, new AppError('payload_too_large', 'The request body is too large.'));
  }
  log.error('request_failed', { requestId: c.get('requestId'), method: c.req.method, path: new URL(c.req.url).pathname, reason: reason(err), stack: err.stack });
  return problem(c, new AppError('internal', 'Something went wrong on our side; it has been logged.'));
};

export const notFound: NotFoundHandler<AppBindings> = (c) =>
  problem(c, new AppError('not_found', `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`));
