/**
 * @module routes/docs
 * The API's description: the OpenAPI 3.1 document at `/v1/openapi.json` and a browsable
 * reference at `/docs` (Scalar). The reference's script is served as a static asset from
 * this origin (`/docs/scalar.js`, copied from @scalar/api-reference by
 * scripts/copy-docs-assets.mjs), never from a CDN, so the page works offline and its
 * Content Security Policy allows no other origin (src/middleware/security-headers.ts).
 */
import { Hono } from 'hono';
import { Scalar } from '@scalar/hono-api-reference';
import type { AppBindings } from '../env.js';
import { doc } from '../openapi/describe.js';
import { openApiDocument } from '../openapi/document.js';

/** Where the reference's script is served from (a static asset, see the module doc). */
export const SCALAR_SCRIPT = '/docs/scalar.js';

/** `api` is the whole app, read when the document is first asked for (it lists this route too). */
export function docsRoutes(api: () => Hono<any>) {
  return new Hono<AppBindings>()
    .get(
      '/v1/openapi.json',
      doc({
        tag: 'operations',
        auth: 'none',
        summary: 'This document',
        description: 'The OpenAPI 3.1 description of every HTTP route, generated from the zod schemas the routes validate with. Frames of sockets and streams are under components.schemas.',
        responses: { 200: { description: 'The document.', media: { type: 'application/json' } } },
      }),
      async (c) => c.json(await openApiDocument(api()), 200, { 'cache-control': 'public, max-age=300' }),
    )
    .get(
      '/docs',
      doc({
        tag: 'operations',
        auth: 'none',
        summary: 'This reference',
        description: 'A browsable reference of /v1/openapi.json (Scalar), served with its script from this origin.',
        responses: { 200: { description: 'An HTML page.', media: { type: 'text/html' } } },
      }),
      Scalar<AppBindings>((c) => ({
        url: '/v1/openapi.json',
        cdn: SCALAR_SCRIPT,
        pageTitle: 'edge-chat API',
        // The page's script tags carry the CSP nonce; nothing loads from another origin.
        nonce: c.get('secureHeadersNonce'),
        withDefaultFonts: false,
        telemetry: false,
        hideClientButton: true,
        showDeveloperTools: 'never',
        documentDownloadType: 'json',
        defaultOpenAllTags: false,
        // No assistant: it would talk to another origin.
        agent: { disabled: true },
      })),
    );
}
