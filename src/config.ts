/**
 * @module config
 * Settings read from the environment, checked once where they are used.
 */
import { AppError } from './errors.js';
import type { Env } from './env.js';

const MIN_SECRET_LENGTH = 32;

/** The token signing key. Production refuses to run on the dev default or a short key. */
export function authSecret(env: Env): string {
  const secret = env.AUTH_SECRET;
  const isDevDefault = secret?.startsWith('dev-only-');
  if (!secret || secret.length < MIN_SECRET_LENGTH || (env.ENVIRONMENT === 'production' && isDevDefault)) {
    console.error(JSON.stringify({ level: 'error', error: 'AUTH_SECRET is missing, too short or the dev default' }));
    throw new AppError('internal', 'The service is not configured: AUTH_SECRET is missing.');
  }
  return secret;
}
