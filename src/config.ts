/**
 * @module config
 * Settings read from the environment, checked in one place. A deployed environment
 * (`ENVIRONMENT` other than "development": wrangler.toml's [env.staging] and
 * [env.production]) refuses to serve while a secret is missing, malformed or one of the
 * development values committed in wrangler.toml, and says which (`requireConfigured`).
 */
import type { MiddlewareHandler } from 'hono';
import { AppError } from './errors.js';
import type { AppBindings, Env } from './env.js';
import { log } from './log.js';

const MIN_SECRET_LENGTH = 32;

/**
 * The development values of wrangler.toml's top-level [vars]: public, so never valid
 * where the service is deployed. The dev AUTH_SECRET starts with `dev-only-`, the dev
 * VAPID subject contains `dev-only`; the dev key pair is recognised by its public half.
 */
const DEV_MARK = 'dev-only';
const DEV_VAPID_PUBLIC_KEY = 'BBQCL9n0o312sh2vVqNywOd2_Q4g--lCWZ5ERtRE1i65fbhvSPGYfsmhx6YbCVZ_EtQq2dC_2YK5l78ANJqj-rg';

/** What is wrong with one setting: its name and why (never its value). */
export interface ConfigProblem {
  setting: 'AUTH_SECRET' | 'VAPID_PUBLIC_KEY' | 'VAPID_PRIVATE_KEY' | 'VAPID_SUBJECT' | 'ADMIN_TOKEN';
  problem: 'missing' | 'too short' | 'malformed' | 'the development value';
}

/** Anything but the local environment is deployed; an unset ENVIRONMENT counts as deployed, so the strict checks are the default. */
export function isDeployed(env: Pick<Env, 'ENVIRONMENT'>): boolean {
  return env.ENVIRONMENT !== 'development';
}

/** Every problem with the secrets the service needs, in a fixed order; none means ready to serve. */
export function configProblems(env: Env): ConfigProblem[] {
  const deployed = isDeployed(env);
  const problems: ConfigProblem[] = [];
  const check = (setting: ConfigProblem['setting'], value: string | undefined, wellFormed: (v: string) => boolean, isDev: (v: string) => boolean) => {
    if (!value) problems.push({ setting, problem: 'missing' });
    else if (!wellFormed(value)) problems.push({ setting, problem: setting === 'AUTH_SECRET' || setting === 'ADMIN_TOKEN' ? 'too short' : 'malformed' });
    else if (deployed && isDev(value)) problems.push({ setting, problem: 'the development value' });
  };
  check('AUTH_SECRET', env.AUTH_SECRET, (v) => v.length >= MIN_SECRET_LENGTH, (v) => v.startsWith(`${DEV_MARK}-`));
  check('VAPID_PUBLIC_KEY', env.VAPID_PUBLIC_KEY, (v) => /^[A-Za-z0-9_-]{87}$/.test(v), (v) => v === DEV_VAPID_PUBLIC_KEY);
  // The dev private key is recognised by its public half: a deployment with the dev public key already fails above.
  check('VAPID_PRIVATE_KEY', env.VAPID_PRIVATE_KEY, (v) => /^[A-Za-z0-9_-]{43}$/.test(v), () => false);
  check('VAPID_SUBJECT', env.VAPID_SUBJECT, (v) => /^(mailto:|https:)/.test(v), (v) => v.includes(DEV_MARK));
  // Optional: unset, /v1/admin/stats is closed; set, it must be a real token.
  if (env.ADMIN_TOKEN !== undefined && env.ADMIN_TOKEN !== '') {
    check('ADMIN_TOKEN', env.ADMIN_TOKEN, (v) => v.length >= MIN_SECRET_LENGTH, (v) => v.startsWith(`${DEV_MARK}-`));
  }
  return problems;
}

/** "AUTH_SECRET (missing), VAPID_SUBJECT (the development value)". */
export function describeProblems(problems: ConfigProblem[]): string {
  return problems.map(({ setting, problem }) => `${setting} (${problem})`).join(', ');
}

function refuse(problems: ConfigProblem[]): never {
  const settings = describeProblems(problems);
  log.error('config_invalid', { settings });
  throw new AppError('internal', `The service is not configured: ${settings}.`);
}

/**
 * Refuses every request while a setting is wrong, naming the settings in the answer and
 * the log line (the names only). Checked per request: a few comparisons, and a secret
 * changed with `wrangler secret put` takes effect without a deploy.
 */
export function requireConfigured(): MiddlewareHandler<AppBindings> {
  return async function requireConfigured(c, next) {
    const problems = configProblems(c.env);
    if (problems.length > 0) refuse(problems);
    await next();
  };
}

/**
 * The operator token for `/v1/admin/stats`, or null when none is set (the route is then
 * closed). A token that is set but wrong for its environment already stops the service
 * (`requireConfigured`).
 */
export function adminToken(env: Env): string | null {
  return env.ADMIN_TOKEN ? env.ADMIN_TOKEN : null;
}

/** The token signing key, checked as `requireConfigured` checks it (the queue consumer and objects have no middleware). */
export function authSecret(env: Env): string {
  const problems = configProblems(env).filter((p) => p.setting === 'AUTH_SECRET');
  if (problems.length > 0) refuse(problems);
  return env.AUTH_SECRET!;
}

export interface VapidKeys {
  /** The uncompressed P-256 public key (65 bytes), base64url: the browser's `applicationServerKey`. */
  publicKey: string;
  /** The private scalar `d` (32 bytes), base64url. */
  privateKey: string;
  subject: string;
}

/** The VAPID key pair; refused when missing, malformed or, deployed, the dev pair. */
export function vapidKeys(env: Env): VapidKeys {
  const problems = configProblems(env).filter((p) => p.setting !== 'AUTH_SECRET');
  if (problems.length > 0) refuse(problems);
  return { publicKey: env.VAPID_PUBLIC_KEY!, privateKey: env.VAPID_PRIVATE_KEY!, subject: env.VAPID_SUBJECT! };
}
