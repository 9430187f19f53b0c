/**
 * @module index
 * The Worker: a stateless Hono app that authenticates, validates and routes each call
 * to the Durable Object that owns the state, and serves the web client's static files.
 * Exports the Durable Object classes for the runtime, and consumes the push queue.
 */
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { MiddlewareHandler } from 'hono';
import type { AppBindings } from './env.js';
import { isOpaque } from './protocol/index.js';
import { log, withRequestId } from './log.js';
import { securityHeaders } from './middleware/security-headers.js';
import { notFound, onError } from './middleware/errors.js';
import { allowedOrigins } from './middleware/origin.js';
import { requireConfigured } from './config.js';
import { authRoutes } from './routes/auth.js';
import { deviceRoutes } from './routes/devices.js';
import { keyRoutes } from './routes/keys.js';
import { userRoutes } from './routes/users.js';
import { conversationRoutes } from './routes/conversations.js';
import { pushRoutes } from './routes/push.js';
import { handlePushBatch } from './push/index.js';
import { mediaRoutes } from './routes/media.js';
import { sweepOrphans } from './media/cleanup.js';
import { searchRoutes } from './routes/search.js';
import { inboxRoutes } from './routes/inbox.js';
import { presenceRoutes } from './routes/presence.js';
import { blockRoutes, reportRoutes } from './routes/moderation.js';
import { docsRoutes } from './routes/docs.js';
import { opsRoutes } from './routes/ops.js';
import { doc } from './openapi/describe.js';

export { ConversationDO } from './conversation/ConversationDO.js';
export { UserDO } from './user/UserDO.js';
export { LimiterDO } from './ratelimit/LimiterDO.js';
export { RelayDO } from './relay/RelayDO.js';

const REQUEST_ID_HEADER = 'X-Request-Id';

/**
 * Every request gets an id, echoed in `X-Request-Id` and in problem bodies, so a user's
 * report can be matched to a log line: an offered id is kept when it is a valid `Rid`
 * (1-64 of A-Z a-z 0-9 _ -, like every id of the protocol), else a new one is made.
 * The rest of the request runs with the id in the logger's scope: every log line the
 * Worker writes for it carries it (src/log.ts).
 */
function requestIds(): MiddlewareHandler<AppBindings> {
  return async function requestIds(c, next) {
    const offered = c.req.header(REQUEST_ID_HEADER);
    const id = offered !== undefined && isOpaque(offered, 1) ? offered : crypto.randomUUID();
    c.set('requestId', id);
    c.header(REQUEST_ID_HEADER, id);
    await withRequestId(id, next);
    // A handler that returns a Response of its own (a stream, an upgrade, a download) never saw c.header().
    if (!c.res.headers.has(REQUEST_ID_HEADER)) {
      const stamped = new Response(c.res.body, c.res);
      stamped.headers.set(REQUEST_ID_HEADER, id);
      c.res = stamped;
    }
  };
}

/**
 * CORS headers for cross-origin requests, which browsers always mark with `Origin`. A
 * request without one (a same-origin GET, any non-browser client) is not one: it skips
 * the middleware, which would otherwise build an extra response per request to hang
 * `Access-Control-Expose-Headers` on.
 */
function crossOrigin(): MiddlewareHandler<AppBindings> {
  const handler = cors({
    origin: (origin, c) => (allowedOrigins(c.env).includes(origin) ? origin : null),
    allowHeaders: ['Authorization', 'Content-Type', REQUEST_ID_HEADER, 'Last-Event-ID', 'Range', 'If-None-Match'],
    exposeHeaders: [REQUEST_ID_HEADER, 'Retry-After', 'Content-Range', 'Content-Length', 'ETag'],
    maxAge: 600,
  });
  return async function crossOrigin(c, next) {
    if (c.req.header('origin') === undefined) return next();
    return handler(c, next);
  };
}

export const app = new Hono<AppBindings>()
  .use(requestIds())
  .use(securityHeaders())
  .use('/v1/*', crossOrigin())
  .get(
    '/healthz',
    doc({
      tag: 'operations',
      auth: 'none',
      summary: 'Liveness',
      description: 'The Worker runs. Touches nothing else, and answers even when a deployed environment is misconfigured (readiness says so).',
      responses: { 200: { description: 'Alive.', media: { type: 'application/json', schema: { type: 'object', properties: { ok: { const: true } } } } } },
    }),
    (c) => c.json({ ok: true }),
  )
  // A deployed environment with a missing or development secret refuses the API and says which (src/config.ts).
  .use('/v1/*', requireConfigured())
  .route('/v1/auth', authRoutes)
  .route('/v1/devices', deviceRoutes)
  .route('/v1/keys', keyRoutes)
  .route('/v1/users', userRoutes)
  .route('/v1/conversations', conversationRoutes)
  .route('/v1/push', pushRoutes)
  .route('/v1/media', mediaRoutes)
  .route('/v1/search', searchRoutes)
  .route('/v1/inbox', inboxRoutes)
  .route('/v1/presence', presenceRoutes)
  .route('/v1/reports', reportRoutes)
  .route('/v1/blocks', blockRoutes)
  .route('/', opsRoutes)
  .route('/', docsRoutes((): Hono<any> => app))
  .notFound(notFound)
  .onError(onError);

export type App = typeof app;

export default {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  queue: (batch, env) => handlePushBatch(batch, env),
  /** The cron trigger in wrangler.toml: the hourly sweep of orphaned uploads. */
  scheduled(controller, env, ctx) {
    ctx.waitUntil(sweepOrphans(env, controller.scheduledTime).then(({ deleted, kept }) => log.info('media_sweep', { deleted: deleted.length, kept: kept.length })));
  },
} satisfies ExportedHandler<AppBindings['Bindings']>;
