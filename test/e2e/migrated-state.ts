/**
 * A fresh `wrangler dev` state directory with D1 already migrated, copied from a template
 * made once. Applying the migrations is a `wrangler d1 migrations apply` of its own
 * (several seconds of CPU, and tens of seconds on a loaded two-core runner), which every
 * end-to-end, browser and reliability file used to pay before starting its server.
 *
 * Accounts whose handle starts with `SERVICE_PREFIX` are put on the `service` rate-limit
 * tier by a trigger in the template: a test's senders that are not people (hundreds of
 * messages a minute), set when they register rather than by a `wrangler d1 execute` per
 * account. Ordinary handles stay on the tier a person gets.
 *
 * A template is named by the migrations' content, the SQL run after them and wrangler's
 * version (its on-disk layout), so a changed migration or an upgrade makes a new one. Files that start at once may both build it: each
 * builds in a directory of its own and renames it into place; the first rename wins and
 * the other copy is dropped.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const ROOT = resolve(import.meta.dirname, '../..');
const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');
const TEMPLATES = join(ROOT, '.wrangler', 'state-templates');
const BUILD_TIMEOUT_MS = 90_000;

export const SERVICE_PREFIX = 'svc';
const AFTER_MIGRATIONS = [
  `CREATE TRIGGER test_service_accounts AFTER INSERT ON users WHEN NEW.handle LIKE '${SERVICE_PREFIX}%' BEGIN UPDATE users SET trust = 'service' WHERE id = NEW.id; END`,
];

/** A handle on the service tier: `svc_<name>_<random>`. */
export function serviceHandle(name: string): string {
  return `${SERVICE_PREFIX}_${name}_${crypto.randomUUID().slice(0, 8)}`;
}

/** Replaces `persist` with a copy of the migrated template. */
export async function freshState(persist: string): Promise<void> {
  const template = join(TEMPLATES, templateKey(AFTER_MIGRATIONS));
  if (!existsSync(template)) await build(template, AFTER_MIGRATIONS);
  rmSync(persist, { recursive: true, force: true });
  cpSync(template, persist, { recursive: true });
}

function templateKey(extraSql: string[]): string {
  const hash = createHash('sha256');
  const dir = join(ROOT, 'migrations');
  for (const name of readdirSync(dir).sort()) hash.update(name).update('\0').update(readFileSync(join(dir, name))).update('\0');
  for (const sql of extraSql) hash.update(sql).update('\0');
  hash.update(readFileSync(join(ROOT, 'node_modules/wrangler/package.json')));
  return hash.digest('hex').slice(0, 16);
}

async function build(template: string, extraSql: string[]): Promise<void> {
  const staging = `${template}.${process.pid}.${crypto.randomUUID().slice(0, 8)}`;
  const env = { ...process.env, X_LOCAL_OBSERVABILITY: 'false', WRANGLER_SEND_METRICS: 'false' };
  const d1 = (command: string[], args: string[] = []) => promisify(execFile)(WRANGLER, ['d1', ...command, 'DB', ...args, '--local', '--persist-to', staging], { cwd: ROOT, env, timeout: BUILD_TIMEOUT_MS });
  try {
    await d1(['migrations', 'apply']);
    for (const sql of extraSql) await d1(['execute'], ['--command', sql]);
    renameSync(staging, template);
  } catch (err) {
    // Another file's copy got there first: use it.
    if (!existsSync(template)) throw err;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
