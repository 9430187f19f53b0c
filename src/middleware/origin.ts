/**
 * @module middleware/origin
 * Browsers attach `Origin` to WebSocket upgrades and cross-origin requests; only the
 * service's own origin and the configured allowlist may open sockets. Non-browser
 * clients send no Origin and are authenticated by ticket or token alone.
 */
import type { Env } from '../env.js';

/** The list as last parsed: asked for on every request (CORS), and it changes only with a deploy. */
let parsed: { source: string; origins: readonly string[] } | null = null;

export function allowedOrigins(env: Env): readonly string[] {
  if (parsed?.source !== env.ALLOWED_ORIGINS) {
    parsed = { source: env.ALLOWED_ORIGINS, origins: env.ALLOWED_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean) };
  }
  return parsed.origins;
}

export function isOriginAllowed(env: Env, request: Request): boolean {
  const origin = request.headers.get('origin');
  if (origin === null) return true;
  return origin === new URL(request.url).origin || allowedOrigins(env).includes(origin);
}
