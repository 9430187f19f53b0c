/**
 * No tokens, passwords, message bodies or full push endpoints in logs. The worker logs
 * through src/log.ts (`log.warn('event_name', { fields })`) and nothing else: this reads
 * every such call in the source and checks its event name and field names, and finds no
 * console call outside the logger itself.
 */
import { describe, expect, it } from 'vitest';

const sources = import.meta.glob(['../../src/**/*.ts', '!../../src/client/**', '!../../src/web/**'], { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

/** Field names that would put a secret or a message body into a log line. */
const FORBIDDEN = /\b(token|accessToken|refreshToken|ticket|password|secret|text|body|content|caption|endpoint|p256dh|auth|preview|query)\s*[:,}]/;

/** The calls of one pattern in every source file, as `file: arguments`. */
function callsOf(pattern: RegExp, except: (file: string) => boolean = () => false): { file: string; args: string }[] {
  const calls: { file: string; args: string }[] = [];
  for (const [file, source] of Object.entries(sources)) {
    if (except(file)) continue;
    for (const match of source.matchAll(pattern)) calls.push({ file, args: match[1]! });
  }
  return calls;
}

describe('logs', () => {
  it("every log.* call names a snake_case event and fields that cannot carry a secret or a message", () => {
    // Up to the call's closing `);` at the end of a statement (a call can span lines).
    const calls = callsOf(/\blog\.(?:info|warn|error)\(([\s\S]*?)\);?\s*\n/g, (file) => file.endsWith('/src/log.ts'));
    expect(calls.length).toBeGreaterThan(15);
    for (const { file, args } of calls) {
      const where = `${file}: ${args}`;
      expect(args.trimStart(), where).toMatch(/^'[a-z][a-z0-9]*(_[a-z0-9]+)*'(,\s*[{\w]|\))?/);
      expect(FORBIDDEN.test(args), where).toBe(false);
    }
  });

  it('nothing logs around the logger: no console call outside src/log.ts', () => {
    const left = callsOf(/console\.(?:log|info|warn|error|debug|trace)\(([\s\S]*?)\);?\n/g, (file) => file.endsWith('/src/log.ts'));
    expect(left.map(({ file, args }) => `${file}: ${args}`)).toEqual([]);
  });
});
