/**
 * @module middleware/security-headers
 * Headers for anything a browser may load from the Worker: a strict Content Security
 * Policy (only our own scripts, styles, images and sockets), no framing (clickjacking),
 * no MIME sniffing, no referrer leaking conversation ids. Static assets get the same
 * policy from `src/web/public/_headers`, since they are served without running the Worker.
 * One route has its own policy: the API reference at `/docs` (see DOCS_CONTENT_SECURITY_POLICY).
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

const options = {
  xFrameOptions: 'DENY',
  referrerPolicy: 'no-referrer',
  // Media may be shown by a web client on an allowed origin; CORS already guards reads.
  crossOriginResourcePolicy: false,
} as const;
const headers = secureHeaders({ contentSecurityPolicy: CONTENT_SECURITY_POLICY, ...options });
const docsHeaders = secureHeaders({ contentSecurityPolicy: DOCS_CONTENT_SECURITY_POLICY, ...options });

export function securityHeaders(): MiddlewareHandler<AppBindings> {
  return async function securityHeaders(c, next) {
    // A WebSocket upgrade's 101 response has immutable headers and renders nothing.
    if (c.req.header('upgrade')?.toLowerCase() === 'websocket') return next();
    return c.req.path === DOCS_PATH ? docsHeaders(c, next) : headers(c, next);
  };
}
