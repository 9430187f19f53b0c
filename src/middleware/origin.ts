/**
 * @module middleware/origin
 * Browsers attach `Origin` to WebSocket upgrades and cross-origin requests; only the
 * service's own origin and the configured allowlist may open sockets. Non-browser
 * clients send no Origin and are authenticated by ticket or token alone.
 */
import type { Env } from '../env.js';

export function allowedOrigins(env: Env): string[] {
  return env.ALLOWED_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean);
}

export function isOriginAllowed(env: Env, request: Request): boolean {
  const origin = request.headers.get('origin');
  if (origin === null) return true;
  return origin === new URL(request.url).origin || allowedOrigins(env).includes(origin);
}
