/**
 * @module protocol/json
 * Bounded JSON parsing: size is checked before parsing and nesting depth after, so a
 * hostile frame costs at most `maxFrameBytes` of work and never reaches a schema deep.
 */
import { LIMITS } from './limits.js';
import type { ErrorBody } from './errors.js';

export type ParseResult = { ok: true; value: unknown } | { ok: false; error: ErrorBody };

const encoder = new TextEncoder();

/** Whether `text` is longer than `maxBytes` in UTF-8, encoding it only when it must. */
export function exceedsBytes(text: string, maxBytes: number): boolean {
  // A UTF-16 unit encodes to at least 1 and at most 3 UTF-8 bytes.
  if (text.length * 3 <= maxBytes) return false;
  if (text.length > maxBytes) return true;
  return encoder.encode(text).byteLength > maxBytes;
}

export function parseBoundedJson(text: string, maxBytes: number = LIMITS.maxFrameBytes): ParseResult {
  if (exceedsBytes(text, maxBytes)) {
    return { ok: false, error: { code: 'frame_too_large', message: `Frames are limited to ${maxBytes} bytes.` } };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: { code: 'invalid_json', message: 'The input is not valid JSON.' } };
  }
  if (depthOf(value, LIMITS.maxJsonDepth + 1) > LIMITS.maxJsonDepth) {
    return { ok: false, error: { code: 'json_too_deep', message: `JSON nesting is limited to ${LIMITS.maxJsonDepth} levels.` } };
  }
  return { ok: true, value };
}

/** Nesting depth of a parsed JSON value, counting stops once `cap` is reached. */
function depthOf(value: unknown, cap: number): number {
  if (value === null || typeof value !== 'object') return 0;
  let deepest = 0;
  for (const child of Object.values(value)) {
    if (deepest + 1 >= cap) break;
    deepest = Math.max(deepest, depthOf(child, cap - 1));
  }
  return deepest + 1;
}
