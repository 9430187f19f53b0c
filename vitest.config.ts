/**
 * Two kinds of tests:
 * - `workers`: the worker and its Durable Objects, inside workerd through
 *   @cloudflare/vitest-plugin, against real local D1, R2 and SQLite storage.
 * - `node`: the SDK's pure parts, end-to-end tests that start a real `wrangler dev` and
 *   talk to it over real sockets, browser tests of the web client (Chromium), and
 *   checks of what operates the service (test/ops: the workflow, the API reference).
 */
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

/** What the worker imports from packages, each bundled for the `workers` project (below). */
const WORKER_DEPENDENCIES = [
  ...['hono', 'hono/cors', 'hono/secure-headers', 'hono/request-id', 'hono/http-exception', 'hono/utils/http-status', 'hono-openapi', '@scalar/hono-api-reference'],
  ...['zod', 'jose', '@block65/webcrypto-web-push'],
  ...['@noble/hashes/sha2.js', '@noble/hashes/sha3.js', '@noble/hashes/hmac.js', '@noble/hashes/hkdf.js', '@noble/ciphers/aes.js', '@noble/curves/ed25519.js', '@noble/post-quantum/ml-kem.js'],
];

/**
 * Files that assert latency under load of their own making, or start a server of their
 * own whose start-up would eat into another file's timed wait (see the `alone` project).
 */
const ALONE = ['test/reliability/overload.test.ts', 'test/browser/list-live.test.ts'];

export default defineConfig(async () => {
  const migrations = await readD1Migrations('./migrations');
  return {
    test: {
      // Two files at a time: most of the suite waits on a wrangler dev, a browser or a
      // timer, so on two cores the second file costs little (vitest's default here is one).
      maxWorkers: 2,
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: './wrangler.toml' },
              // RELAY_MAX_SOCKETS: 2, so a test's few sockets span several relays
              // (test/worker/relay.test.ts; only conversations of RELAY_MIN_MEMBERS have relays).
              miniflare: { bindings: { TEST_MIGRATIONS: migrations, RELAY_MAX_SOCKETS: '2' } },
            }),
          ],
          test: {
            name: 'workers',
            // Every file starts its own workerd, which imports the worker module by module over
            // an RPC to vitest. Each dependency bundled into one module makes that ~1.3 s faster
            // per file (of ~5.5 s). A dependency left off the list still works, unbundled.
            deps: { optimizer: { ssr: { enabled: true, include: WORKER_DEPENDENCIES } } },
            include: ['test/worker/**/*.test.ts'],
            setupFiles: ['./test/worker/apply-migrations.ts'],
            globalSetup: ['./test/worker/push-receiver.ts'],
            testTimeout: 30_000,
          },
        },
        {
          test: {
            name: 'node',
            environment: 'node',
            include: ['test/client/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/browser/**/*.test.ts', 'test/reliability/**/*.test.ts', 'test/ops/**/*.test.ts'],
            exclude: [...ALONE],
            testTimeout: 120_000,
            hookTimeout: 120_000,
          },
        },
        {
          // After everything else, one file at a time: what these files measure is latency,
          // which another file's server and browser on the same two cores would set instead.
          test: {
            name: 'alone',
            environment: 'node',
            include: [...ALONE],
            maxWorkers: 1,
            sequence: { groupOrder: 1 },
            testTimeout: 120_000,
            hookTimeout: 120_000,
          },
        },
      ],
    },
  };
});
