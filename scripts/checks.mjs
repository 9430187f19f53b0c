// The static checks `npm test` runs before the tests: generated types current, each
// TypeScript project type-checked, the deploy commands dry-run (which needs the web build,
// so `npm test` builds it first). Each is one process on one core, so they run two at a
// time (a 2-core CI box; ~40 s instead of ~80 s). A check that fails prints its whole
// output when it ends, so lines of two checks never interleave. `--only=tsc` runs just
// the type-checks (`npm run typecheck`).
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';

const ALL = [
  ['npm', ['run', '-s', 'check:types']],
  ...['tsconfig.json', 'tsconfig.client.json', 'src/web/tsconfig.json', 'test/reliability/tsconfig.json'].map((project) => ['npx', ['tsc', '--noEmit', '-p', project]]),
  ['npm', ['run', '-s', 'check:deploy']],
];
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const CHECKS = only ? ALL.filter(([, args]) => args[0] === only) : ALL;
if (CHECKS.length === 0) throw new Error(`no check is named ${only} (try --only=tsc)`);
const AT_ONCE = Math.max(1, Math.min(2, cpus().length));

function run([command, args]) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code) => {
      const line = `${command} ${args.join(' ')}`;
      process.stdout.write(`${code === 0 ? 'ok' : 'FAILED'}: ${line} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
      if (code !== 0) process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
      resolve(code === 0);
    });
  });
}

const queue = [...CHECKS];
const results = await Promise.all(
  Array.from({ length: AT_ONCE }, async () => {
    const passed = [];
    while (queue.length > 0) passed.push(await run(queue.shift()));
    return passed.every(Boolean);
  }),
);
if (!results.every(Boolean)) process.exitCode = 1;
