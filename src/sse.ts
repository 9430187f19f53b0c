/**
 * @module sse
 * Server-Sent Events as the Worker writes them, for both HTTP streams: a device's event
 * stream (src/user/stream.ts) and a conversation's feed (src/conversation/stream.ts).
 * Each message is one `data:` line of JSON (JSON never holds a raw newline), with an
 * `id` where the reader resumes from it.
 */

/** Tells SSE clients (EventSource) how long to wait before reconnecting after the stream ends. */
export const SSE_RETRY_MS = 1_000;

/** A comment line: ignored by parsers, but proves the stream alive. */
export const SSE_HEARTBEAT = ': keepalive\n\n';

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  // no-transform: a compressing proxy would hold heartbeats back until its buffer fills.
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
} as const;

/** One SSE message. */
export function sseMessage(frame: object, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(frame)}\n\n`;
}

/**
 * Where to resume: the `Last-Event-ID` header when present (what EventSource and the SDK
 * send on reconnect), else the query parameter. An ID that is not a non-negative integer
 * yields undefined, which the route refuses.
 */
export function resumePosition(lastEventId: string | undefined, query: number | undefined): number | null | undefined {
  if (lastEventId === undefined || lastEventId.trim() === '') return query ?? null;
  if (!/^\d{1,15}$/.test(lastEventId.trim())) return undefined;
  return Number(lastEventId.trim());
}

const encoder = new TextEncoder();

/**
 * A pull-driven SSE body: `next` is asked for the next chunk only once the previous one
 * was read, so a slow reader is never buffered for and a reader that goes away stops the
 * work; null ends the stream. A failure writes `failed` (an error frame) and ends it.
 */
export function pullStream(next: () => Promise<string | null>, failed: (err: unknown) => string): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const text = await next();
        if (text === null) controller.close();
        else controller.enqueue(encoder.encode(text));
      } catch (err) {
        try {
          controller.enqueue(encoder.encode(failed(err)));
          controller.close();
        } catch {
          // Already cancelled by the client.
        }
      }
    },
  });
}
