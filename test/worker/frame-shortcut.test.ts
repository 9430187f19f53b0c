/**
 * The hand-written reading of a plain-text `send` (src/protocol/frames.ts, `plainTextSend`)
 * against the schema it stands in for, inside workerd (where zod runs without its
 * compiled parsers): on generated frames at and around every limit, the shortcut takes
 * exactly the plain-text sends the schema accepts, and gives what the schema gives, key
 * order included (the stored body is its JSON).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CLIENT_FRAME, ClientFrame, LIMITS, plainTextSend } from '../../src/protocol/index.js';

const OPAQUE_CHARS = 'abcXYZ019_-';
const opaque = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...OPAQUE_CHARS), minLength: min, maxLength: max });

/** Ids valid and not: too short, too long, a character outside the set, another type. */
const id = (min: number) =>
  fc.oneof(
    { weight: 12, arbitrary: opaque(min, LIMITS.maxIdLength) },
    opaque(Math.max(0, min - 1), min - 1),
    opaque(LIMITS.maxIdLength + 1, LIMITS.maxIdLength + 2),
    opaque(min, 10).map((s) => `${s}.`),
    fc.integer(),
    fc.constant(null),
  );

const emoji = '\u{1F600}';
/** Text at and around the limit, counted in code points and in code units. */
const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 20 }) },
  fc.constant(''),
  fc.constantFrom(LIMITS.maxTextLength - 1, LIMITS.maxTextLength, LIMITS.maxTextLength + 1).map((n) => 'a'.repeat(n)),
  fc.constantFrom(LIMITS.maxTextLength, LIMITS.maxTextLength + 1).map((n) => emoji.repeat(n)),
  fc.constant(`${emoji.repeat(LIMITS.maxTextLength - 1)}ab`),
  fc.constant('\uD800 lone surrogate'),
  fc.integer(),
);

const content = fc.oneof(
  { weight: 6, arbitrary: text.map((t) => ({ type: 'text', text: t })) },
  { weight: 1, arbitrary: text.map((t) => ({ type: 'text', text: t, extra: 1 })) },
  { weight: 1, arbitrary: fc.constant({ type: 'text' }) },
  { weight: 1, arbitrary: fc.constant({ type: 'image', mediaId: 'abcdefgh' }) },
  { weight: 1, arbitrary: fc.constantFrom(null, [], 'hello') },
);

const replyToSeq = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(undefined, 1, 2, Number.MAX_SAFE_INTEGER) },
  fc.constantFrom(0, -1, 1.5, Number.MAX_SAFE_INTEGER + 2, '3', null),
);

const frame = fc
  .record({
    type: fc.constantFrom('send', 'send', 'send', 'send', 'send', 'read'),
    rid: fc.option(id(1), { freq: 2, nil: undefined }),
    cmid: fc.option(id(8), { freq: 8, nil: undefined }),
    content,
    replyToSeq,
    extra: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, fc.constantFrom('seq', 'ts', 'author')),
  })
  .map(({ extra, ...fields }) => {
    const value: Record<string, unknown> = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
    if (extra) value[extra] = 1;
    // As the socket reads it: through JSON, so nothing but JSON values.
    return JSON.parse(JSON.stringify(value)) as unknown;
  });

function isPlainText(value: unknown): boolean {
  return (value as { content?: { type?: unknown } }).content?.type === 'text';
}

describe('the plain-text send shortcut', () => {
  it('accepts exactly the plain-text sends the schema accepts, with the same output', () => {
    let taken = 0;
    fc.assert(
      fc.property(frame, (value) => {
        const fast = plainTextSend(value);
        const schema = ClientFrame.safeParse(value);
        if (fast !== null) {
          taken++;
          expect(schema.success).toBe(true);
          expect(JSON.stringify(fast)).toBe(JSON.stringify(schema.data));
        } else if (schema.success) {
          expect(isPlainText(value), JSON.stringify(value).slice(0, 200)).toBe(false);
        }
      }),
      { numRuns: 3_000 },
    );
    expect(taken).toBeGreaterThan(100);
  });

  it('leaves a refusal to the schema, which explains it', () => {
    const refused = CLIENT_FRAME.safeParse({ type: 'send', cmid: 'short', content: { type: 'text', text: 'hi' } });
    expect(refused.success).toBe(false);
    if (!refused.success) expect(refused.error.issues[0]?.path).toEqual(['cmid']);
    const media = { type: 'send', cmid: 'cmid-0001', content: { type: 'image', mediaId: 'm1' } };
    expect(plainTextSend(media)).toBeNull();
    expect(CLIENT_FRAME.safeParse(media).success).toBe(ClientFrame.safeParse(media).success);
  });
});
