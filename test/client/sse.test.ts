import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SseParser } from '../../src/client/sse.js';

/** Splits `text` at the given cut points, in order. */
function chunks(text: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const p of points) {
    out.push(text.slice(from, p));
    from = p;
  }
  out.push(text.slice(from));
  return out;
}

describe('SseParser', () => {
  it('parses ids, data, comments and retry', () => {
    const parser = new SseParser();
    const got = parser.push('retry: 1000\n\n: keepalive\n\nid: 7\ndata: {"a":1}\n\ndata: one\ndata: two\n\nevent: x\ndata:no-space\n\n');
    expect(got).toEqual([
      { id: '7', event: 'message', data: '{"a":1}' },
      { id: '7', event: 'message', data: 'one\ntwo' },
      { id: '7', event: 'x', data: 'no-space' },
    ]);
    expect(parser.retryMs).toBe(1000);
    expect(parser.lastEventId).toBe('7');
  });

  it('holds an incomplete message until its blank line', () => {
    const parser = new SseParser();
    expect(parser.push('id: 1\ndata: {"half"')).toEqual([]);
    expect(parser.push(':true}\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ id: '1', event: 'message', data: '{"half":true}' }]);
  });

  it('an id without data changes lastEventId but dispatches nothing', () => {
    const parser = new SseParser();
    expect(parser.push('id: 9\n\n')).toEqual([]);
    expect(parser.lastEventId).toBe('9');
  });

  it('gives the same messages however the stream is split, with LF, CR or CRLF line ends', () => {
    const message = fc.record({
      id: fc.option(fc.integer({ min: 0, max: 1e9 }), { nil: undefined }),
      data: fc.array(fc.string({ unit: fc.constantFrom('a', 'b', '{', '}', '"', ' ', ':', 'é', '😀') }), { minLength: 1, maxLength: 3 }),
      comment: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(message, { maxLength: 8 }), fc.constantFrom('\n', '\r', '\r\n'), fc.array(fc.nat(), { maxLength: 10 }), (messages, eol, cuts) => {
        const text = messages
          .map((m) => `${m.comment ? `: hb${eol}${eol}` : ''}${m.id === undefined ? '' : `id: ${m.id}${eol}`}${m.data.map((d) => `data: ${d}${eol}`).join('')}${eol}`)
          .join('');
        const whole = new SseParser().push(text);
        const parser = new SseParser();
        const pieces = chunks(text, cuts).flatMap((c) => parser.push(c));
        expect(pieces).toEqual(whole);
        let id = '';
        const expected = messages.map((m) => {
          if (m.id !== undefined) id = String(m.id);
          return { id, event: 'message', data: m.data.join('\n') };
        });
        expect(whole).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
