/**
 * @module middleware/security-headers
 * Headers for what a browser may get from the Worker. Its one page, the API reference at
 * `/docs`, gets a page's policy: a strict Content Security Policy (only our own scripts,
 * styles, images and sockets), no framing (clickjacking), no MIME sniffing, no referrer
 * leaking conversation ids (see DOCS_CONTENT_SECURITY_POLICY). The web client's pages are
 * static assets, served without running the Worker: `src/web/public/_headers` gives them
 * CONTENT_SECURITY_POLICY.
 *
 * Everything else the Worker answers is data (JSON, a feed, a download), and gets what
 * OWASP's REST Security Cheat Sheet asks of every API response (DATA_HEADERS): nothing may
 * load or run in it, it is never framed, sniffed or stored, and it is only fetched over
 * HTTPS. A page's other headers (opener, referrer, DNS prefetch policies) do nothing for
 * a response that is not a document, and each costs every request (the Worker sets it,
 * the client parses it). A route's own value for one of these headers wins: a download
 * is sandboxed and cached for a year (src/media/download.ts), a feed revalidates.
 */
import type { MiddlewareHandler } from 'hono';
import { NONCE, secureHeaders } from 'hono/secure-headers';
import type { AppBindings } from '../env.js';

export const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'blob:', 'data:'],
  mediaSrc: ["'self'", 'blob:'],
  connectSrc: ["'self'"],
  workerSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/**
 * `/docs` (src/routes/docs.ts): still only this origin, but the reference page starts its
 * script with an inline `<script>`, allowed by a per-response nonce (never
 * 'unsafe-inline' for scripts), and its UI library writes inline styles at run time, so
 * styles are 'unsafe-inline' on this page only. The app's own pages keep the policy above.
 */
export const DOCS_CONTENT_SECURITY_POLICY = {
  ...CONTENT_SECURITY_POLICY,
  scriptSrc: ["'self'", NONCE],
  styleSrc: ["'self'", "'unsafe-inline'"],
  fontSrc: ["'self'", 'data:'],
};
export const DOCS_PATH = '/docs';

const docsHeaders = secureHeaders({
  contentSecurityPolicy: DOCS_CONTENT_SECURITY_POLICY,
  xFrameOptions: 'DENY',
  referrerPolicy: 'no-referrer',
  crossOriginResourcePolicy: false,
});

const DATA_HEADERS: readonly (readonly [string, string])[] = [
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['X-Frame-Options', 'DENY'],
  ['X-Content-Type-Options', 'nosniff'],
  ['Strict-Transport-Security', 'max-age=15552000; includeSubDomains'],
  ['Cache-Control', 'no-store'],
];

export function securityHeaders(): MiddlewareHandler<AppBindings> {
  return async function securityHeaders(c, next) {
    // A WebSocket upgrade's 101 response has immutable headers and renders nothing.
    if (c.req.header('upgrade')?.toLowerCase() === 'websocket') return next();
    if (c.req.path === DOCS_PATH) return docsHeaders(c, next);
    await next();
    const { headers } = c.res;
    for (const [name, value] of DATA_HEADERS) if (!headers.has(name)) headers.set(name, value);
  };
}
