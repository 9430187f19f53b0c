/**
 * @module media/stream
 * The upload pipe: request body → magic-byte check → exact-length stream → R2. Bytes
 * flow through without being collected (only the first SNIFF_BYTES are kept, to read the
 * type and image header), and any error (a wrong type, too few or too many bytes, a
 * dropped connection) aborts the pipe, so R2 never commits a partial object.
 */
import { AppError } from '../errors.js';
import type { MediaType } from '../protocol/index.js';
import { SNIFF_BYTES, typeMatches } from './sniff.js';

/** Enough leading bytes to recognise every accepted type. */
const MAGIC_BYTES = 16;

export interface Inspected {
  /** The stream to hand to R2: exactly `size` bytes, or it errors. */
  readable: ReadableStream<Uint8Array>;
  /** The first bytes seen, once the stream has been read. */
  prefix(): Uint8Array;
  /** Why the pipe was stopped on purpose (a wrong type), if it was; R2 reports only that the stream failed. */
  failure(): AppError | null;
}

/**
 * Wraps `body` so it yields exactly `size` bytes and, when `declared` is given, errors
 * as soon as the first bytes show another type than declared.
 */
export function inspect(body: ReadableStream<Uint8Array>, size: number, declared: MediaType | null): Inspected {
  let prefix = new Uint8Array(0);
  let checked = declared === null;
  let failure: AppError | null = null;
  const check = () => {
    checked = true;
    if (declared && !typeMatches(declared, prefix)) {
      failure = new AppError('unsupported_media_type', `The file's bytes are not ${declared}.`);
      throw failure;
    }
  };
  const inspector = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      if (prefix.length < SNIFF_BYTES) {
        const take = chunk.subarray(0, SNIFF_BYTES - prefix.length);
        const grown = new Uint8Array(prefix.length + take.length);
        grown.set(prefix);
        grown.set(take, prefix.length);
        prefix = grown;
      }
      if (!checked && prefix.length >= Math.min(MAGIC_BYTES, size)) check();
      controller.enqueue(chunk);
    },
    flush() {
      if (!checked) check();
    },
  });
  const readable = body.pipeThrough(inspector).pipeThrough(new FixedLengthStream(size));
  return { readable, prefix: () => prefix, failure: () => failure };
}

/** Lowercase hex SHA-256 of a stream, read through once without keeping it. */
export async function sha256Hex(stream: ReadableStream<Uint8Array>): Promise<string> {
  const digest = new crypto.DigestStream('SHA-256');
  await stream.pipeTo(digest);
  return [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Turns a failure inside the pipe into the error the client should see. */
export function uploadError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const text = String(err);
  if (/SHA-256|checksum/i.test(text)) return new AppError('upload_mismatch', 'The bytes do not match the declared SHA-256; nothing was stored.');
  return new AppError('upload_mismatch', 'The body did not arrive as signed (length or connection); nothing was stored.');
}
