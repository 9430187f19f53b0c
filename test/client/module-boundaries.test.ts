/**
 * What may import what, read from the sources: the SDK and the web client bundle only
 * the protocol and themselves (server settings must not ship to browsers), and src/env.ts
 * sits in no import cycle (it used to import the Durable Object classes for their
 * namespace types, tying 52 modules into one cycle; worker-configuration.d.ts now names them).
 * The SDK's end-to-end encryption runs in browsers, Node and workerd alike: it imports only
 * itself, the protocol, zod (the SDK's schemas) and the audited @noble primitives, and
 * uses no Node global; and
 * libsignal, the reference implementation its tests compare against, stays test-only.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

const FILES = sources(join(ROOT, 'src'));

/** Relative imports of `file` (type-only ones too: a cycle of types is still a cycle to a reader), as root-relative paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:import|export)\s[^'";]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/g)].map((m) => (m[1] ?? m[2])!.replace(/\.js$/, ''));
  return specs.flatMap((spec) => {
    const found = ['.ts', '.tsx', '/index.ts'].map((ext) => resolve(dirname(file), spec + ext)).find((p) => FILES.includes(p));
    return found ? [relative(ROOT, found)] : [];
  });
}

const GRAPH = new Map(FILES.map((f) => [relative(ROOT, f), importsOf(f)]));

/** Every module reachable from `start` by imports. */
function reachable(start: string): Set<string> {
  const seen = new Set<string>();
  const next = [...(GRAPH.get(start) ?? [])];
  while (next.length) {
    const f = next.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    next.push(...(GRAPH.get(f) ?? []));
  }
  return seen;
}

describe('module boundaries', () => {
  it('src/client and src/web import only the protocol and each other', () => {
    const strays = [...GRAPH].flatMap(([file, deps]) =>
      /^src\/(client|web)\//.test(file) ? deps.filter((d) => !/^src\/(client|web|protocol)\//.test(d)).map((d) => `${file} → ${d}`) : [],
    );
    expect(strays).toEqual([]);
  });

  it('src/protocol imports nothing outside itself', () => {
    const strays = [...GRAPH].flatMap(([file, deps]) => (file.startsWith('src/protocol/') ? deps.filter((d) => !d.startsWith('src/protocol/')).map((d) => `${file} → ${d}`) : []));
    expect(strays).toEqual([]);
  });

  it('no source imports @signalapp/libsignal-client (a test-only reference implementation)', () => {
    const strays = FILES.filter((f) => /from\s+'@signalapp\/|import\('@signalapp\/|require\('@signalapp\//.test(readFileSync(f, 'utf8'))).map((f) => relative(ROOT, f));
    expect(strays).toEqual([]);
  });

  it('src/client/e2ee imports only relative modules, zod and @noble/*, and uses no Node-only global', () => {
    const strays = FILES.filter((f) => relative(ROOT, f).startsWith('src/client/e2ee/')).flatMap((f) => {
      const text = readFileSync(f, 'utf8');
      const packages = [...text.matchAll(/(?:import|export)\s[^'";]*?from\s+'([^'.][^']*)'|import\('([^'.][^']*)'\)/g)].map((m) => (m[1] ?? m[2])!);
      const bad = packages.filter((p) => p !== 'zod' && !/^@noble\/(curves|hashes|ciphers|post-quantum)\//.test(p));
      const globals = /\b(Buffer|process|require|__dirname)\b/.test(text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')) ? ['a Node global'] : [];
      return [...bad, ...globals].map((what) => `${relative(ROOT, f)} → ${what}`);
    });
    expect(strays).toEqual([]);
  });

  it('src/env.ts is in no import cycle and reaches no Durable Object module', () => {
    const fromEnv = reachable('src/env.ts');
    expect(fromEnv.has('src/env.ts')).toBe(false);
    expect([...fromEnv].filter((f) => /DO\.ts$/.test(f))).toEqual([]);
  });
});
