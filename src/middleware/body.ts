/**
 * @module middleware/body
 * Reads and validates a JSON body: the size is checked (declared and actual) before
 * parsing, nesting depth after, then the strict zod schema. Nothing downstream ever sees
 * an unvalidated body.
 */
import type { Context } from 'hono';
import type { z } from 'zod';
import { AppError } from '../errors.js';
import { LIMITS, parseBoundedJson } from '../protocol/index.js';

/** `maxBytes`: a route with a larger documented bound of its own (the key uploads: `E2EE.maxKeyUploadBytes`). */
export async function readJson<S extends z.ZodType>(c: Context, schema: S, maxBytes: number = LIMITS.maxFrameBytes): Promise<z.output<S>> {
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > maxBytes) throw new AppError('payload_too_large', `Bodies are limited to ${maxBytes} bytes.`);
  const text = await readLimited(c.req.raw, maxBytes);
  const parsed = parseBoundedJson(text, maxBytes);
  if (!parsed.ok) {
    const code = parsed.error.code === 'frame_too_large' ? 'payload_too_large' : parsed.error.code;
    throw new AppError(code, parsed.error.message);
  }
  const result = schema.safeParse(parsed.value);
  if (!result.success) throw AppError.invalid(result.error);
  return result.data;
}

/** Reads a body as text, stopping as soon as it passes `maxBytes` (chunked bodies have no length). */
async function readLimited(request: Request, maxBytes: number): Promise<string> {
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new AppError('payload_too_large', `Bodies are limited to ${maxBytes} bytes.`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/** Validates path or query parameters against a schema. */
export function parseParams<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw AppError.invalid(result.error);
  return result.data;
}
