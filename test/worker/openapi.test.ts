/**
 * Every route of the app is in the OpenAPI document with a summary, a description and
 * its error responses (problem bodies); a route added without `doc()` fails here. The
 * document itself is validated, and checked against PROTOCOL.md, in test/ops/openapi.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { app } from '../../src/index.js';
import { openApiDocument } from '../../src/openapi/document.js';
import { call } from './helpers.js';

type Operation = { summary?: string; description?: string; responses: Record<string, { content?: Record<string, unknown> }> };
type Paths = Record<string, Record<string, Operation>>;

/** Hono's `/:id` as OpenAPI's `/{id}`. */
const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

describe('the OpenAPI document', () => {
  it('describes every route the app serves, with a summary, a description and its errors', async () => {
    const paths = (await openApiDocument(app)).paths as Paths;
    const routes = app.routes.filter((r) => r.method !== 'ALL' && !r.path.endsWith('*'));
    const unique = [...new Set(routes.map((r) => `${r.method} ${r.path}`))];
    expect(unique.length).toBeGreaterThan(50);
    const missing: string[] = [];
    for (const key of unique) {
      const [method, path] = key.split(' ') as [string, string];
      const op = paths[openApiPath(path)]?.[method.toLowerCase()];
      if (!op || !op.summary?.trim() || !op.description?.trim()) {
        missing.push(key);
        continue;
      }
      // Its errors are problem bodies (readiness's 503 is its own report, declared as a reply).
      const problems = Object.entries(op.responses).filter(([status, r]) => Number(status) >= 400 && r.content?.['application/problem+json']);
      expect(problems.length, `${key} names no error`).toBeGreaterThan(0);
    }
    expect(missing, 'routes without an OpenAPI summary and description (add doc() to the route)').toEqual([]);
  });

  it('is served at /v1/openapi.json', async () => {
    const res = await call('/v1/openapi.json');
    expect(res.status).toBe(200);
    const served = await res.json<{ openapi: string; paths: Record<string, unknown> }>();
    expect(served.openapi).toBe('3.1.0');
    expect(Object.keys(served.paths)).toContain('/v1/conversations/{id}/messages');
  });
});
