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

/** vitest's teardown race from a workerd test file (or from no file): see onUnhandledError below. */
function isWorkerdTeardownRace(error: unknown): boolean {
  const { name, VITEST_TEST_PATH: file } = (error ?? {}) as { name?: string; VITEST_TEST_PATH?: string };
  return name === 'EnvironmentTeardownError' && (file === undefined || /[\\/]test[\\/]worker[\\/]/.test(file));
}

export default defineConfig(async () => {
  const migrations = await readD1Migrations('./migrations');
  return {
    test: {
      // The one unhandled error forgiven, and only from a workerd test file: vitest's
      // EnvironmentTeardownError, raised when a Durable Object calls into the runner (each
      // call imports the worker through it) while the file's runner is being torn down.
      // test/worker/apply-migrations.ts drains the objects after each file (evicts them,
      // deletes their alarms) so this should not happen; it stays because the drain cannot
      // reach everything that can still wake the worker afterwards (a push-queue batch in
      // flight, the queue's retries) and the race could not be reproduced to prove it gone.
      // vitest reads this hook from the root config only (a project's own is ignored), so
      // it is scoped by the test file the error names; one that names none is forgiven too,
      // since vitest reports teardown errors of any pool without a file.
      onUnhandledError: (error) => !isWorkerdTeardownRace(error),
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
            testTimeout: 120_000,
            hookTimeout: 120_000,
          },
        },
      ],
    },
  };
});
