/**
 * @module middleware/request-id
 * Gives every request an id (echoed in `X-Request-Id` and in problem bodies) so a
 * user's report can be matched to a log line.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppBindings } from '../env.js';
import { Rid } from '../protocol/index.js';

export function requestId(): MiddlewareHandler<AppBindings> {
  return async function requestId(c, next) {
    const offered = c.req.header('x-request-id');
    const id = offered && Rid.safeParse(offered).success ? offered : crypto.randomUUID();
    c.set('requestId', id);
    await next();
    c.header('X-Request-Id', id);
  };
}
