/**
 * @module test/reliability/run
 * The reliability suite's command line (outside CI), run by npm scripts:
 *
 *   npm run test:reliability                 # every scenario at CI size (what `npm test` runs)
 *   npm run test:reliability:full            # every scenario at full size (chaos: 5,000 messages, 50 cuts)
 *   npm run soak -- --minutes 30             # chaos at full size, round after round, for 30 minutes
 *   ... -- --seed 1234                       # replay a run's faults and send pattern
 *   ... -- --only chaos                      # one scenario file (chaos, crash, absence, overload)
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '../..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { minutes: { type: 'string' }, seed: { type: 'string' }, only: { type: 'string' } },
});
const mode = positionals[0] ?? 'ci';
if (!['ci', 'full', 'soak'].includes(mode)) throw new Error(`usage: run.ts [ci|full|soak] [--minutes N] [--seed S] [--only scenario]; not ${mode}`);
const env: NodeJS.ProcessEnv = { ...process.env };
if (mode !== 'ci') env.RELIABILITY_SIZE = 'full';
if (values.seed !== undefined) env.RELIABILITY_SEED = values.seed;
let files = ['test/reliability/'];
if (mode === 'soak') {
  const minutes = Number(values.minutes ?? 10);
  if (!(minutes > 0 && minutes <= 24 * 60)) throw new Error(`--minutes must be between 0 and 1440, not ${values.minutes}`);
  env.RELIABILITY_SOAK_MINUTES = String(minutes);
  files = ['test/reliability/chaos.test.ts'];
  console.log(`soak: chaos at full size, round after round, for ${minutes} minutes`);
}
if (values.only) files = [`test/reliability/${values.only}.test.ts`];
const result = spawnSync(join(ROOT, 'node_modules/.bin/vitest'), ['run', '--project', 'node', ...files], { cwd: ROOT, env, stdio: 'inherit' });
process.exit(result.status ?? 1);
