/**
 * @module config
 * Settings read from the environment, checked once where they are used.
 */
import { AppError } from './errors.js';
import type { Env } from './env.js';
import { log } from './log.js';

const MIN_SECRET_LENGTH = 32;

/** The token signing key. Production refuses to run on the dev default or a short key. */
export function authSecret(env: Env): string {
  const secret = env.AUTH_SECRET;
  const isDevDefault = secret?.startsWith('dev-only-');
  if (!secret || secret.length < MIN_SECRET_LENGTH || (env.ENVIRONMENT === 'production' && isDevDefault)) {
    log.error('config_invalid', { setting: 'AUTH_SECRET', problem: 'missing, too short or the dev default' });
    throw new AppError('internal', 'The service is not configured: AUTH_SECRET is missing.');
  }
  return secret;
}

export interface VapidKeys {
  /** The uncompressed P-256 public key (65 bytes), base64url: the browser's `applicationServerKey`. */
  publicKey: string;
  /** The private scalar `d` (32 bytes), base64url. */
  privateKey: string;
  subject: string;
}

/** The VAPID key pair. Production refuses a missing pair and the dev pair from wrangler.toml. */
export function vapidKeys(env: Env): VapidKeys {
  // Secrets in production, so possibly unset: '' fails the shape checks below.
  const { VAPID_PUBLIC_KEY: publicKey = '', VAPID_PRIVATE_KEY: privateKey = '', VAPID_SUBJECT: subject = '' } = env;
  const wellFormed = /^[A-Za-z0-9_-]{87}$/.test(publicKey) && /^[A-Za-z0-9_-]{43}$/.test(privateKey) && /^(mailto:|https:)/.test(subject);
  if (!wellFormed || (env.ENVIRONMENT === 'production' && subject.includes('dev-only'))) {
    log.error('config_invalid', { setting: 'VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY or VAPID_SUBJECT', problem: 'missing, malformed or the dev pair' });
    throw new AppError('internal', 'The service is not configured: the Web Push keys are missing.');
  }
  return { publicKey, privateKey, subject };
}
