/**
 * No tokens, passwords, message bodies or full push endpoints in logs. Every log call in
 * the worker writes one JSON object of named fields; this reads each call in the source
 * and checks that no field could carry a secret.
 */
import { describe, expect, it } from 'vitest';

const sources = import.meta.glob(['../../src/**/*.ts', '!../../src/client/**', '!../../src/web/**', '!../../src/log.ts'], { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

/** Field names that would put a secret or a message body into a log line. */
const FORBIDDEN = /\b(token|accessToken|refreshToken|ticket|password|secret|text|body|content|caption|endpoint|p256dh|auth|preview|query)\s*[:,}]/;

describe('logs', () => {
  it('every console call logs one JSON object, and none of its fields can carry a secret or a message', () => {
    const calls: string[] = [];
    for (const [file, source] of Object.entries(sources)) {
      for (const match of source.matchAll(/console\.(log|info|warn|error|debug)\(([\s\S]*?)\);\n/g)) calls.push(`${file}: ${match[2]}`);
    }
    for (const call of calls) {
      const args = call.slice(call.indexOf(': ') + 2);
      expect(args.trimStart().startsWith('JSON.stringify({'), call).toBe(true);
      expect(FORBIDDEN.test(args), call).toBe(false);
    }
  });

  it('every call of the logger names its event and logs named fields, none of which can carry a secret or a message', () => {
    const calls: string[] = [];
    for (const [file, source] of Object.entries(sources)) {
      for (const match of source.matchAll(/\blog\.(info|warn|error)\(([\s\S]*?)\);\n/g)) calls.push(`${file}: ${match[2]}`);
    }
    expect(calls.length).toBeGreaterThan(3);
    for (const call of calls) {
      const args = call.slice(call.indexOf(': ') + 2).trim();
      expect(/^'[a-z_]+'(, \{[\s\S]*\})?$/.test(args), call).toBe(true);
      expect(FORBIDDEN.test(args), call).toBe(false);
    }
  });
});
