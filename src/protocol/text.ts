/**
 * @module protocol/text
 * How the length of message text is counted: in Unicode code points, so an emoji outside
 * the Basic Multilingual Plane counts once (as users and other chat services count it),
 * not twice as `String.length` does. Text cut from a message (a reply's quote, a
 * preview) is cut at a code point, never inside a surrogate pair. Other short fields
 * (titles, names, reasons) keep counting UTF-16 code units, as the HTML `maxlength`
 * attribute the web client uses does.
 */
import { z } from 'zod';

/** Code points in `text` (a lone surrogate counts as one). */
export function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** The first `max` code points of `text` (all of it when shorter). */
export function codePointSlice(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = 0;
  let n = 0;
  for (const ch of text) {
    if (n === max) break;
    end += ch.length;
    n++;
  }
  return text.slice(0, end);
}

/**
 * A string of at most `max` code points (combine with `.min(1)`: one code unit or more is
 * one code point or more). At most `max` code units passes without counting, and more
 * than twice `max` fails the same way.
 */
export function codePointString(max: number) {
  return z.string().check((ctx) => {
    const s = ctx.value;
    if (s.length <= max) return;
    if (s.length <= 2 * max && codePointLength(s) <= max) return;
    ctx.issues.push({ code: 'too_big', origin: 'string', maximum: max, inclusive: true, input: s, message: `must be at most ${max} characters (Unicode code points)` });
  });
}
