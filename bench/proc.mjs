/**
 * @module bench/proc
 * CPU and memory of a process, read from /proc (Linux): what the runtime spent, apart
 * from what the load generator spent, so a reader sees what limited a run.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second for /proc/<pid>/stat; 100 on every Linux the bench targets. */
const CLK_TCK = 100;

/** CPU seconds (user + system) a process has used so far; 0 for no process, or one that has exited. */
export function cpuSample(pid) {
  if (!isAlive(pid)) return 0;
  // The command name (field 2) may hold spaces, so split after its closing parenthesis.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

export function isAlive(pid) {
  return Boolean(pid) && existsSync(`/proc/${pid}`);
}

/** Resident set size in bytes; 0 for no process, or one that has exited. */
export function rssBytes(pid) {
  if (!isAlive(pid)) return 0;
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0) * 1024;
}

/** Descendants of `root` (any depth) whose command name is `name`, with their arguments. */
export function descendants(root, name) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const list = children.get(ppid) ?? [];
      list.push({ pid: Number(entry), comm });
      children.set(ppid, list);
    } catch {
      // The process ended while we looked.
    }
  }
  const found = [];
  const stack = [root];
  while (stack.length > 0) {
    for (const child of children.get(stack.pop()) ?? []) {
      stack.push(child.pid);
      if (child.comm === name) {
        found.push({ pid: child.pid, args: readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0') });
      }
    }
  }
  return found;
}

/** CPU model, cores and memory of this machine, for the record. */
export function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? 'unknown';
  const cores = cpuinfo.match(/^processor\s*:/gm)?.length ?? 0;
  const memKb = Number(readFileSync('/proc/meminfo', 'utf8').match(/^MemTotal:\s+(\d+)/m)?.[1] ?? 0);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  return { cpu: model, cores, memoryGb: Math.round(memKb / 2 ** 20), loadAverageAtStart: load };
}
