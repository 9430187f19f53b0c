/**
 * @module openapi/document
 * The OpenAPI 3.1 document of the HTTP API, generated from the routes' `doc()` entries
 * (hono-openapi's `generateSpecs` walks the app), plus the frames of the sockets and
 * event streams as JSON Schema (zod's `z.toJSONSchema` of the protocol's own unions), so
 * PROTOCOL.md's frame tables can be checked against them (test/ops/openapi.test.ts).
 * Built once per isolate, on the first request for it.
 */
import type { Hono } from 'hono';
import { generateSpecs } from 'hono-openapi';
import { z } from 'zod';
import {
  ClientFrame,
  ConversationEvent,
  DeviceEvent,
  ERROR_CODES,
  FeedFrame,
  InboxClientFrame,
  InboxFrame,
  PushPayload,
  ServerFrame,
} from '../protocol/index.js';
import { TAGS, jsonSchema } from './describe.js';

/** Every problem body (`application/problem+json`); each response narrows `code` to the codes it may carry. */
const Problem = z.object({
  code: z.enum(ERROR_CODES as [string, ...string[]]).describe('Stable: the table in PROTOCOL.md, "Errors".'),
  message: z.string().describe('For people; may change.'),
  status: z.number().int(),
  requestId: z.string().describe('Also in the X-Request-Id header; quote it when reporting a problem.'),
  issues: z.array(z.object({ path: z.array(z.union([z.string(), z.number()])), message: z.string() })).optional().describe('For invalid_request: where.'),
  retryAfterMs: z.number().int().optional().describe('For rate_limited.'),
  rule: z.string().optional().describe('For content_rejected: the filter rule.'),
});

/**
 * What the sockets and event streams carry, each a union on `type` (`kind` for device
 * events): referenced by the upgrade and stream routes (`x-frames`), and listed by type in
 * PROTOCOL.md. Client frames are described as the server reads them (input), the rest as
 * it writes them (output).
 */
export const FRAME_SCHEMAS = {
  ChatClientFrame: { schema: ClientFrame, io: 'input' },
  ChatServerFrame: { schema: ServerFrame, io: 'output' },
  InboxClientFrame: { schema: InboxClientFrame, io: 'input' },
  InboxServerFrame: { schema: InboxFrame, io: 'output' },
  FeedFrame: { schema: FeedFrame, io: 'output' },
  DeviceEvent: { schema: DeviceEvent, io: 'output' },
  ConversationEvent: { schema: ConversationEvent, io: 'output' },
  PushPayload: { schema: PushPayload, io: 'output' },
} as const;
export type FrameSchemaName = keyof typeof FRAME_SCHEMAS;

/** `{ $ref }` to one of the frame schemas, for a route's `x-frames` or an event stream's body. */
export const frameRef = (name: FrameSchemaName) => ({ $ref: `#/components/schemas/${name}` });

export const API_INFO = {
  title: 'edge-chat API',
  version: '1',
  description:
    'Real-time chat on Cloudflare Workers. Every route, body and error code of docs/PROTOCOL.md, generated from the zod schemas the Worker validates with. ' +
    'Sockets and event streams carry the frames under Schemas (ChatClientFrame, ChatServerFrame, InboxClientFrame, InboxServerFrame, FeedFrame). ' +
    'Errors are `application/problem+json` with a stable `code`.',
};

async function build(app: Hono<any>): Promise<Record<string, unknown>> {
  const frames = Object.fromEntries(Object.entries(FRAME_SCHEMAS).map(([name, { schema, io }]) => [name, jsonSchema(schema, io)]));
  return generateSpecs(app, {
    documentation: {
      openapi: '3.1.0',
      info: API_INFO,
      tags: [...TAGS],
      servers: [{ url: '/', description: 'this deployment' }],
      components: {
        schemas: { Problem: jsonSchema(Problem, 'output'), ...frames } as never,
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The access token of a Session (15 minutes; refresh with POST /v1/auth/refresh).' },
          ticket: { type: 'apiKey', in: 'query', name: 'ticket', description: 'A single-use connect ticket (POST /v1/auth/tickets), for WebSocket upgrades: browsers cannot set headers on them.' },
          signedUrl: { type: 'apiKey', in: 'query', name: 'sig', description: 'An upload URL signed by the server (POST /v1/media): size, type, expiry and an HMAC.' },
          operator: { type: 'http', scheme: 'bearer', description: 'The operator token (the ADMIN_TOKEN secret).' },
        },
      },
    },
    // Our routes name their errors; hono-openapi's default 400 body is not ours.
    defaultValidationErrorResponse: false,
    excludeMethods: ['OPTIONS'],
    // /v1/openapi.json is a route, not a static file.
    excludeStaticFile: false,
  }) as unknown as Promise<Record<string, unknown>>;
}

let cached: Promise<Record<string, unknown>> | undefined;

/** The document for `app`, built on first use and kept for the isolate's life (routes do not change at run time). */
export function openApiDocument(app: Hono<any>): Promise<Record<string, unknown>> {
  cached ??= build(app).catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}
