// The D1 migrations vitest.config.ts reads and passes to the tests as a binding
// (applied by apply-migrations.ts); not part of the Worker's own Env.
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS?: import('cloudflare:test').D1Migration[];
  }
}
