/**
 * @module env
 * The Worker's bindings and variables, kept by hand in one place (see wrangler.toml),
 * and the Hono context variables every route can read.
 */
import type { ConversationDO } from './conversation/ConversationDO.js';
import type { UserDO } from './user/UserDO.js';
import type { LimiterDO } from './ratelimit/LimiterDO.js';
import type { Tier } from './ratelimit/rules.js';
import type { PushJob } from './push/jobs.js';

export interface Env {
  DB: D1Database;
  MEDIA: R2Bucket;
  /** Makes server thumbnails (src/media/thumbnail.ts); Miniflare runs it locally with sharp. */
  IMAGES: ImagesBinding;
  CONVERSATIONS: DurableObjectNamespace<ConversationDO>;
  USERS: DurableObjectNamespace<UserDO>;
  LIMITERS: DurableObjectNamespace<LimiterDO>;
  ASSETS: Fetcher;
  /** "production" turns on the production checks in config.ts. */
  ENVIRONMENT: string;
  /** HMAC key for access tokens. A secret in production; a fixed dev value locally. */
  AUTH_SECRET: string;
  /** Comma-separated browser origins allowed to open sockets and call the API. */
  ALLOWED_ORIGINS: string;
  /** Web Push jobs, consumed by this Worker's `queue` handler (src/push/consumer.ts). */
  PUSH_QUEUE: Queue<PushJob>;
  /** VAPID (RFC 8292) application server key pair, base64url: secrets in production, a dev pair locally. */
  VAPID_PUBLIC_KEY: string;
  VAPID_PRIVATE_KEY: string;
  /** A `mailto:` or `https:` contact the push services can reach about this sender. */
  VAPID_SUBJECT: string;
  /**
   * Conversations with at most this many members fan out on write (every event to every
   * member's inbox); larger ones fan out on read. Default 100 (src/conversation/fanout.ts).
   */
  FANOUT_ON_WRITE_MAX_MEMBERS?: string;
  /** Fan-out timings (src/conversation/fanout.ts, FanoutTuning); unset keeps the production defaults. */
  FANOUT_SETTLE_MS?: string;
  FANOUT_MIN_PASS_INTERVAL_MS?: string;
  FANOUT_PASS_INTERVAL_PER_MEMBER_MS?: string;
  /** Raises the `service` tier's message limits (per minute, per user and per conversation); unset keeps the table's. */
  SERVICE_TIER_MESSAGES_PER_MINUTE?: string;
  /** Comma-separated blocked terms for the content filter; replaces the defaults in src/moderation/filter.ts. */
  CONTENT_FILTER_BLOCKED_TERMS?: string;
}

/** Who is calling, once the auth middleware has checked the access token. */
export interface Identity {
  userId: string;
  deviceId: string;
}

export interface AppBindings {
  Bindings: Env;
  Variables: { requestId: string; identity: Identity; tier: Tier };
}

type WorkerEnv = Env;

declare global {
  // Lets `import { env } from 'cloudflare:workers'` (and the tests) see the same Env.
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS?: import('cloudflare:test').D1Migration[];
    }
    interface GlobalProps {
      mainModule: typeof import('./index.js');
      durableNamespaces: 'ConversationDO' | 'UserDO' | 'LimiterDO';
    }
  }
}
