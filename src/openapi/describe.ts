/**
 * @module openapi/describe
 * `doc()`: one route's entry in the OpenAPI document, from the same zod schemas the route
 * validates with. It returns hono-openapi's `describeRoute` middleware (a pass-through at
 * run time); `generateSpecs` collects them from the app (src/openapi/document.ts).
 *
 * Validation stays with the route (`readJson`, `parseParams`): the bounded reader checks
 * size while the body streams and depth before any schema, and every refusal is a problem
 * body with our codes. A route names the schema it reads in `body` / `query` / `params`,
 * so the document and the check cannot name different shapes without a visible edit in
 * one place. The errors a route may answer are listed per route; the ones every route of
 * a kind shares (a JSON body, a bearer token) are added here.
 */
import { describeRoute, resolver } from 'hono-openapi';
import type { MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { ERROR_STATUS, type ErrorCode } from '../protocol/index.js';

/** The groups of the reference's sidebar, in order. */
export const TAGS = [
  { name: 'accounts', description: 'Registration, sessions, devices, users.' },
  { name: 'conversations', description: 'Direct and group conversations, members, messages, receipts, the feed, chat-window sockets.' },
  { name: 'inbox', description: "A device's event stream over a socket, Server-Sent Events or long polling." },
  { name: 'media', description: 'Uploads to signed URLs, authorised downloads.' },
  { name: 'presence', description: 'Who is online, visible only to people who share a conversation.' },
  { name: 'moderation', description: 'Reports and blocks.' },
  { name: 'push', description: 'Web Push subscriptions.' },
  { name: 'search', description: 'Full-text search across conversations.' },
  { name: 'keys', description: 'The key directory for end-to-end encryption: device keys, device lists, prekey bundles.' },
  { name: 'operations', description: 'Health, readiness, the API description, operator statistics.' },
] as const;
export type Tag = (typeof TAGS)[number]['name'];

/** How a route authenticates: a bearer access token (default), a single-use ticket in the URL, a signed URL, an operator token, or nothing. */
export type Auth = 'bearer' | 'ticket' | 'signature' | 'operator' | 'none';

export interface Reply {
  description: string;
  /** The JSON body's schema; none for an empty answer. */
  schema?: z.ZodType;
  /** A body that is not JSON (bytes, an event stream): its media type and, for streams, what each message carries. */
  media?: { type: string; schema?: Record<string, unknown> };
}

export interface RouteDoc {
  tag: Tag;
  /** One line, shown in the sidebar. */
  summary: string;
  /** What it does and what a caller must know; required, never empty (test/ops/openapi.test.ts). */
  description: string;
  auth?: Auth;
  /** The JSON body's schema: the one the handler passes to `readJson`. */
  body?: z.ZodType;
  /** A body that is not JSON. */
  rawBody?: { type: string; description: string };
  /** The query's schema: the one the handler passes to `parseParams`. */
  query?: z.ZodObject;
  /** Each path parameter's schema. */
  params?: Record<string, z.ZodType>;
  /** Request headers the route reads. */
  headers?: Record<string, string>;
  /** Successful answers by status. */
  responses: Record<number, Reply>;
  /** Error codes this route answers besides those of its kind (body, auth). */
  errors?: ErrorCode[];
  /** Vendor extensions (`x-…`): the frames of a socket. */
  extensions?: Record<`x-${string}`, unknown>;
}

const BODY_ERRORS: ErrorCode[] = ['invalid_json', 'json_too_deep', 'invalid_request', 'payload_too_large'];
const AUTH_ERRORS: Record<Auth, ErrorCode[]> = {
  bearer: ['unauthenticated', 'invalid_token', 'device_revoked'],
  ticket: [],
  signature: ['invalid_upload_url'],
  operator: ['unauthenticated', 'forbidden'],
  none: [],
};
const SECURITY: Record<Auth, Record<string, string[]>[] | undefined> = {
  bearer: [{ bearer: [] }],
  ticket: [{ ticket: [] }],
  signature: [{ signedUrl: [] }],
  operator: [{ operator: [] }],
  none: [],
};

/** JSON Schema of a zod schema as a request reads it (defaults make fields optional), without `$schema`. */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

function parameters(doc: RouteDoc): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const [name, schema] of Object.entries(doc.params ?? {})) out.push({ in: 'path', name, required: true, schema: jsonSchema(schema) });
  if (doc.query) {
    const shape = jsonSchema(doc.query) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
    for (const [name, schema] of Object.entries(shape.properties ?? {})) {
      out.push({ in: 'query', name, required: shape.required?.includes(name) ?? false, schema });
    }
  }
  for (const [name, description] of Object.entries(doc.headers ?? {})) out.push({ in: 'header', name, required: false, description, schema: { type: 'string' } });
  return out;
}

/** Error responses by status, each naming its codes and narrowing the problem body's `code` to them. */
function errorResponses(codes: ErrorCode[]): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
  const out: Record<string, unknown> = {};
  for (const [status, group] of [...byStatus].sort(([a], [b]) => a - b)) {
    out[status] = {
      description: group.map((c) => `\`${c}\``).join(', '),
      ...(status === 429 ? { headers: { 'Retry-After': { description: 'Seconds until the same request can succeed.', schema: { type: 'integer' } } } } : {}),
      content: { 'application/problem+json': { schema: { allOf: [{ $ref: '#/components/schemas/Problem' }, { properties: { code: { enum: group } } }] } } },
    };
  }
  return out;
}

function reply(r: Reply): Record<string, unknown> {
  if (r.schema) return { description: r.description, content: { 'application/json': { schema: resolver(r.schema) } } };
  if (r.media) return { description: r.description, content: { [r.media.type]: r.media.schema ? { schema: r.media.schema } : {} } };
  return { description: r.description };
}

/** The route's OpenAPI operation, as a pass-through middleware that hono-openapi collects. */
export function doc(route: RouteDoc): MiddlewareHandler {
  const auth = route.auth ?? 'bearer';
  const errors: ErrorCode[] = [
    ...(route.body ? BODY_ERRORS : []),
    ...(route.query || route.params ? ['invalid_request' as const] : []),
    ...AUTH_ERRORS[auth],
    ...(route.errors ?? []),
    'internal',
  ];
  const requestBody = route.body
    ? { required: true, content: { 'application/json': { schema: resolver(route.body) } } }
    : route.rawBody
      ? { required: true, description: route.rawBody.description, content: { [route.rawBody.type]: {} } }
      : undefined;
  return describeRoute({
    tags: [route.tag],
    summary: route.summary,
    description: route.description,
    security: SECURITY[auth],
    parameters: parameters(route) as never,
    ...(requestBody ? { requestBody: requestBody as never } : {}),
    responses: {
      ...Object.fromEntries(Object.entries(route.responses).map(([status, r]) => [status, reply(r)])),
      ...errorResponses(errors),
    } as never,
    ...(route.extensions ?? {}),
  });
}
