// Runs the deploy jobs' wrangler commands without credentials, as part of `npm test`:
// reads every `cloudflare/wrangler-action` step of .github/workflows/ci.yml and runs its
// command in a form that needs no account (`deploy` with `--dry-run`, `d1 migrations
// apply --remote` with `--local` on a throwaway database), so the workflow cannot name an
// environment, binding or flag that wrangler.toml does not have. Then reports each
// environment's bundle against BUNDLE_BUDGET and fails over it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parse } from 'yaml';

const WORKFLOW = '.github/workflows/ci.yml';

/**
 * The Worker's bundle (gzip), the size Cloudflare limits (3 MiB on the free plan, 10 MiB
 * paid) and the one that grows startup time. The budget is set well under the limit, about
 * twice today's size (259 KiB), so that a dependency pulled into the Worker by accident
 * (the API reference's UI, a second zod) fails the build rather than the deploy.
 */
export const BUNDLE_BUDGET = { gzipKiB: 512 };

/** The same command, runnable without credentials; null when there is no such form. */
function dryRunOf(command, outdir, persistTo) {
  const args = command.trim().split(/\s+/);
  if (args[0] === 'deploy') return [...args, '--dry-run', '--outdir', outdir];
  if (args.slice(0, 3).join(' ') === 'd1 migrations apply' && args.includes('--remote')) {
    return [...args.filter((a) => a !== '--remote'), '--local', '--persist-to', persistTo];
  }
  return null;
}

const steps = Object.values(parse(readFileSync(WORKFLOW, 'utf8')).jobs).flatMap((job) => job.steps ?? []);
const commands = steps.filter((s) => String(s.uses ?? '').startsWith('cloudflare/wrangler-action@')).map((s) => s.with?.command ?? 'deploy');
if (commands.length === 0) throw new Error(`${WORKFLOW} has no wrangler-action step`);

const scratch = mkdtempSync(join(tmpdir(), 'edge-chat-dry-run-'));
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false' };
delete env.CLOUDFLARE_API_TOKEN;
delete env.CLOUDFLARE_ACCOUNT_ID;
let failed = false;
try {
  for (const [i, command] of commands.entries()) {
    const outdir = join(scratch, `bundle-${i}`);
    const args = dryRunOf(command, outdir, join(scratch, `state-${i}`));
    if (!args) throw new Error(`no dry run is known for \`wrangler ${command}\` (${WORKFLOW}): add one to scripts/deploy-dry-run.mjs`);
    console.log(`$ wrangler ${args.join(' ').replaceAll(scratch, '$TMP')}`);
    execFileSync('npx', ['wrangler', ...args], { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (args[0] !== 'deploy') continue;
    const bundle = readFileSync(join(outdir, 'index.js'));
    const kib = (n) => Math.round(n / 102.4) / 10;
    const gzip = kib(gzipSync(bundle).length);
    const over = gzip > BUNDLE_BUDGET.gzipKiB;
    failed ||= over;
    console.log(`  bundle: ${kib(bundle.length)} KiB, ${gzip} KiB gzip; BUNDLE_BUDGET ${BUNDLE_BUDGET.gzipKiB} KiB gzip${over ? ': OVER BUDGET' : ''}`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
if (failed) {
  console.error('The Worker bundle is over BUNDLE_BUDGET (scripts/deploy-dry-run.mjs).');
  process.exitCode = 1;
}
