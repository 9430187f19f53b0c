/**
 * @module middleware/security-headers
 * Headers for anything a browser may load from the Worker: a strict Content Security
 * Policy (only our own scripts, styles, images and sockets), no framing (clickjacking),
 * no MIME sniffing, no referrer leaking conversation ids. Static assets get the same
 * policy from `src/web/public/_headers`, since they are served without running the Worker.
 */
import type { MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
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

const headers = secureHeaders({
  contentSecurityPolicy: CONTENT_SECURITY_POLICY,
  xFrameOptions: 'DENY',
  referrerPolicy: 'no-referrer',
  // Media may be shown by a web client on an allowed origin; CORS already guards reads.
  crossOriginResourcePolicy: false,
});

export function securityHeaders(): MiddlewareHandler<AppBindings> {
  return async function securityHeaders(c, next) {
    // A WebSocket upgrade's 101 response has immutable headers and renders nothing.
    if (c.req.header('upgrade')?.toLowerCase() === 'websocket') return next();
    return headers(c, next);
  };
}
