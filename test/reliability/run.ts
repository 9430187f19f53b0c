/**
 * @module test/reliability/run
 * The reliability suite's command line (outside CI), run by npm scripts:
 *
 *   npm run test:reliability                 # every scenario at CI size, the workerd ones too
 *   npm run test:reliability:full            # every scenario at full size (chaos: 5,000 messages, 50 cuts), then the workerd ones
 *   npm run soak -- --minutes 30             # chaos at full size, round after round, for 30 minutes
 *   ... -- --seed 1234                       # replay a run's faults and send pattern
 *   ... -- --only chaos                      # one scenario file (chaos, crash, absence, overload, checker; evictions, callees)
 *
 * The workerd scenarios (test/worker/reliability-*.test.ts) have one size: they run in
 * the `workers` project, whose workerd does not see this process's environment.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '../..');
const WORKERD_SCENARIOS = ['evictions', 'callees'];
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { minutes: { type: 'string' }, seed: { type: 'string' }, only: { type: 'string' } },
});
const mode = positionals[0] ?? 'ci';
if (!['ci', 'full', 'soak'].includes(mode)) throw new Error(`usage: run.ts [ci|full|soak] [--minutes N] [--seed S] [--only scenario]; not ${mode}`);
const env: NodeJS.ProcessEnv = { ...process.env };
if (mode !== 'ci') env.RELIABILITY_SIZE = 'full';
if (values.seed !== undefined) env.RELIABILITY_SEED = values.seed;
let nodeFiles = ['test/reliability/'];
let workerFiles = WORKERD_SCENARIOS.map((s) => `test/worker/reliability-${s}.test.ts`);
if (mode === 'soak') {
  const minutes = Number(values.minutes ?? 10);
  if (!(minutes > 0 && minutes <= 24 * 60)) throw new Error(`--minutes must be between 0 and 1440, not ${values.minutes}`);
  env.RELIABILITY_SOAK_MINUTES = String(minutes);
  nodeFiles = ['test/reliability/chaos.test.ts'];
  workerFiles = [];
  console.log(`soak: chaos at full size, round after round, for ${minutes} minutes`);
}
if (values.only) {
  const workerd = WORKERD_SCENARIOS.includes(values.only);
  nodeFiles = workerd ? [] : [`test/reliability/${values.only}.test.ts`];
  workerFiles = workerd ? [`test/worker/reliability-${values.only}.test.ts`] : [];
}

/** One vitest run of `files` in `projects`; its exit status. */
function vitest(projects: string[], files: string[]): number {
  if (files.length === 0) return 0;
  const result = spawnSync(join(ROOT, 'node_modules/.bin/vitest'), ['run', ...projects.flatMap((p) => ['--project', p]), ...files], { cwd: ROOT, env, stdio: 'inherit' });
  return result.status ?? 1;
}

// Both run even if the first fails: a run's figures are worth having whole.
// The overload scenario is in the `alone` project (vitest.config.ts): nothing runs beside it.
const statuses = [vitest(['node', 'alone'], nodeFiles), vitest(['workers'], workerFiles)];
process.exit(statuses.find((s) => s !== 0) ?? 0);
