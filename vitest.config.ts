/**
 * Two kinds of tests:
 * - `workers`: the worker and its Durable Objects, inside workerd through
 *   @cloudflare/vitest-plugin, against real local D1, R2 and SQLite storage.
 * - `node`: the SDK's pure parts, end-to-end tests that start a real `wrangler dev` and
 *   talk to it over real sockets, and browser tests of the web client (Chromium).
 */
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

export default defineConfig(async () => {
  const migrations = await readD1Migrations('./migrations');
  return {
    test: {
      // A Durable Object may still be finishing background work (an alarm, a fan-out
      // pass) when its test file ends; vitest then reports the runner closing its RPC
      // under it as an EnvironmentTeardownError. That is the harness, not the product:
      // ignore exactly that error, and keep every other unhandled error failing the run.
      onUnhandledError: (error) => (error as { name?: string }).name !== 'EnvironmentTeardownError',
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: './wrangler.toml' },
              miniflare: { bindings: { TEST_MIGRATIONS: migrations } },
            }),
          ],
          test: {
            name: 'workers',
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
            include: ['test/client/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/browser/**/*.test.ts', 'test/reliability/**/*.test.ts'],
            testTimeout: 120_000,
            hookTimeout: 120_000,
          },
        },
      ],
    },
  };
});
