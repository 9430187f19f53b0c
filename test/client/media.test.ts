import { describe, expect, it } from 'vitest';
import { MediaError, MediaIntegrityError, decryptMedia, downloadMedia, encryptMedia, sendUpload, sha256Hex, type MediaClientOptions } from '../../src/client/media.js';
import type { UploadTicket } from '../../src/protocol/index.js';

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);

describe('encrypted media', () => {
  it('round-trips through encrypt and decrypt, with a fresh key and IV every time', async () => {
    const plaintext = bytes(100_000);
    const a = await encryptMedia(plaintext);
    const b = await encryptMedia(plaintext);
    expect(a.key).not.toBe(b.key);
    expect(a.ciphertext.subarray(0, 12)).not.toEqual(b.ciphertext.subarray(0, 12));
    expect(a.ciphertext.byteLength).toBe(plaintext.byteLength + 28);
    expect(a.digest).toBe(await sha256Hex(a.ciphertext));
    expect(await decryptMedia(a.ciphertext, a.key, a.digest)).toEqual(plaintext);
  });

  it('refuses altered bytes, a wrong digest and a wrong key', async () => {
    const plaintext = bytes(1_000);
    const blob = await encryptMedia(plaintext);
    const altered = blob.ciphertext.slice();
    altered[500]! ^= 1;
    await expect(decryptMedia(altered, blob.key, blob.digest)).rejects.toBeInstanceOf(MediaIntegrityError);
    // Even with a digest that matches the altered bytes, GCM's tag refuses them.
    await expect(decryptMedia(altered, blob.key, await sha256Hex(altered))).rejects.toBeInstanceOf(MediaIntegrityError);
    const other = await encryptMedia(plaintext);
    await expect(decryptMedia(blob.ciphertext, other.key, blob.digest)).rejects.toBeInstanceOf(MediaIntegrityError);
    await expect(decryptMedia(blob.ciphertext, blob.key, other.digest)).rejects.toBeInstanceOf(MediaIntegrityError);
  });
});

describe('multipart upload from the SDK', () => {
  /** A fake service: stores parts, fails the first attempt at part 2, answers status and complete. */
  function fakeService(partSize: number, total: number) {
    const stored = new Map<number, number>();
    const calls: string[] = [];
    let failedOnce = false;
    const fetch = async (url: string, init?: RequestInit): Promise<Response> => {
      const { pathname } = new URL(url);
      calls.push(`${init?.method ?? 'GET'} ${pathname}`);
      const part = /\/parts\/(\d+)$/.exec(pathname);
      if (part) {
        const n = Number(part[1]);
        if (n === 2 && !failedOnce) {
          failedOnce = true;
          return new Response(JSON.stringify({ code: 'internal', message: 'boom' }), { status: 500 });
        }
        stored.set(n, (init?.body as Uint8Array).byteLength);
        return Response.json({ part: n, size: stored.get(n) });
      }
      if (pathname.endsWith('/status')) return Response.json({ mediaId: 'm_1', partSize, partCount: Math.ceil(total / partSize), stored: [...stored.keys()].sort() });
      if (pathname.endsWith('/complete')) return Response.json({ media: { mediaId: 'm_1', contentType: 'video/mp4', size: total, encrypted: false } }, { status: 201 });
      return new Response('{}', { status: 404 });
    };
    return { fetch, stored, calls };
  }

  it('reports progress per part, retries a failed part, and resumes without resending stored parts', async () => {
    const partSize = 1_000;
    const data = bytes(2_500);
    const service = fakeService(partSize, data.byteLength);
    service.stored.set(1, partSize);
    const client: MediaClientOptions = { baseUrl: 'http://svc.test', token: () => 't', fetch: service.fetch };
    const ticket: UploadTicket = {
      mediaId: 'm_1',
      expiresAt: Date.now() + 60_000,
      upload: {
        kind: 'multipart',
        partSize,
        parts: [1, 2, 3].map((n) => `http://svc.test/v1/media/upload/m_1/parts/${n}?sig=x`),
        complete: 'http://svc.test/v1/media/upload/m_1/complete?sig=x',
        status: 'http://svc.test/v1/media/upload/m_1/status?sig=x',
      },
    };
    const progress: number[] = [];
    const media = await sendUpload(client, ticket, data, { onProgress: (p) => progress.push(p.loaded) });
    expect(media.mediaId).toBe('m_1');
    expect(progress).toEqual([1_000, 2_000, 2_500]);
    expect(service.calls.filter((c) => c.includes('/parts/1'))).toHaveLength(0);
    expect(service.calls.filter((c) => c.includes('/parts/2'))).toHaveLength(2);
    expect([...service.stored.entries()].sort()).toEqual([[1, 1_000], [2, 1_000], [3, 500]]);
  });
});

describe('media call deadlines', () => {
  const deadline = { answerMs: 80, minBytesPerS: 100_000 };
  /** No answer at all, and the abort changes nothing (a dead connection in a runtime that ignores it). */
  const neverAnswers = () => new Promise<Response>(() => undefined);

  async function settled(call: Promise<unknown>): Promise<string> {
    return Promise.race([
      call.then(
        () => 'answered',
        (error: unknown) => (error instanceof MediaError ? `${error.code} ${error.status}` : `other: ${String(error)}`),
      ),
      new Promise<string>((resolve) => setTimeout(() => resolve('still pending after 3 s'), 3_000)),
    ]);
  }

  it('a download that never answers, or whose body never ends, fails as `network`; a slow one within its bytes\' time succeeds', async () => {
    expect(await settled(downloadMedia({ baseUrl: 'http://svc.test', token: () => 't', fetch: neverAnswers, deadline }, 'm_1'))).toBe('network 0');
    const stalls = async () => new Response(new ReadableStream({ start: () => undefined }), { headers: { 'content-length': '10' } });
    expect(await settled(downloadMedia({ baseUrl: 'http://svc.test', token: () => 't', fetch: stalls, deadline }, 'm_1'))).toBe('network 0');
    // 20,000 bytes at the floor of 100,000 bytes a second may take 200 ms more than the answer's 80: they come in 150.
    const slow = async () =>
      new Response(
        new ReadableStream({
          start: async (controller) => {
            await new Promise((resolve) => setTimeout(resolve, 150));
            controller.enqueue(new Uint8Array(20_000));
            controller.close();
          },
        }),
        { headers: { 'content-length': '20000' } },
      );
    const bytes = await downloadMedia({ baseUrl: 'http://svc.test', token: () => 't', fetch: slow, deadline }, 'm_1');
    expect(bytes.byteLength).toBe(20_000);
  });

  it('an upload part that never answers is tried again, then fails as `network`', async () => {
    let calls = 0;
    const fetch = (url: string) => {
      if (url.includes('/status')) return Promise.resolve(Response.json({ mediaId: 'm_1', partSize: 1_000, partCount: 1, stored: [] }));
      calls++;
      return neverAnswers();
    };
    const ticket: UploadTicket = {
      mediaId: 'm_1',
      expiresAt: Date.now() + 60_000,
      upload: { kind: 'multipart', partSize: 1_000, parts: ['http://svc.test/p/1'], complete: 'http://svc.test/c', status: 'http://svc.test/status' },
    };
    expect(await settled(sendUpload({ baseUrl: 'http://svc.test', token: () => 't', fetch, deadline }, ticket, bytes(1_000), { attempts: 2 }))).toBe('network 0');
    expect(calls).toBe(2);
  });
});
