/**
 * Helpers for the HTTP streams: an SSE reader (through the SDK's own parser) and long
 * polls, each checking every frame against the protocol schemas.
 */
import { expect } from 'vitest';
import type { z } from 'zod';
import { DeviceEventPage, InboxFrame, type DeviceEvent, type Session } from '../../src/protocol/index.js';
import { SseParser, type SseMessage } from '../../src/client/sse.js';
import { call } from './helpers.js';

/** Reads an SSE body through the SDK's parser, message by message, until it ends or is cancelled. */
export async function pumpSse(reader: ReadableStreamDefaultReader<Uint8Array>, onMessage: (message: SseMessage) => void): Promise<void> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      for (const message of parser.push(decoder.decode(value, { stream: true }))) onMessage(message);
    }
  } catch {
    // cancelled
  }
}

/**
 * Reads an SSE body: every message parsed with `schema` (a frame that does not match
 * fails the test), the SSE id of each frame of type `idsOf` kept in order.
 */
export class SseFrames<F extends { type: string }> {
  readonly frames: F[] = [];
  /** The SSE id of each frame of type `idsOf`, in order. */
  readonly ids: string[] = [];
  ended = false;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;

  constructor(
    body: ReadableStream<Uint8Array>,
    readonly schema: z.ZodType<F>,
    readonly idsOf: F['type'],
  ) {
    this.#reader = body.getReader();
    void this.#pump();
  }

  async #pump(): Promise<void> {
    await pumpSse(this.#reader, (message) => {
      const frame = this.schema.safeParse(JSON.parse(message.data));
      expect(frame.success, message.data).toBe(true);
      if (!frame.success) return;
      this.frames.push(frame.data);
      if (frame.data.type === this.idsOf) this.ids.push(message.id);
    });
    this.ended = true;
  }

  async until<T>(check: () => T | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.slice(-3))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    void this.#reader.cancel().catch(() => undefined);
  }
}

/** The device event stream over SSE. */
export class SseReader extends SseFrames<InboxFrame> {
  constructor(body: ReadableStream<Uint8Array>) {
    super(body, InboxFrame, 'deliver');
  }

  events(): DeviceEvent[] {
    return this.frames.flatMap((f) => (f.type === 'deliver' ? f.events : []));
  }
}

/** Opens the device's SSE stream and waits until its backlog has been sent. */
export async function openSse(session: Session, options: { lastEventId?: string; cursor?: number } = {}): Promise<SseReader> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
  const res = await call(`/v1/inbox/events${options.cursor === undefined ? '' : `?cursor=${options.cursor}`}`, { token: session.accessToken, headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = new SseReader(res.body!);
  await reader.until(() => reader.frames.some((f) => f.type === 'caught_up'), 'caught_up');
  return reader;
}

/** One long poll, its answer checked against the protocol schema. */
export async function poll(session: Session, query: { cursor?: number; timeoutMs?: number } = {}): Promise<DeviceEventPage> {
  const params = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
  const res = await call(`/v1/inbox/poll?${params}`, { token: session.accessToken });
  const body: unknown = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(200);
  return DeviceEventPage.parse(body);
}
