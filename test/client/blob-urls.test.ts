import { describe, expect, it } from 'vitest';
import { BlobUrls, type ObjectUrls } from '../../src/web/lib/blob-urls.js';

/** Object URLs that remember which are alive, and fetches the test resolves by hand. */
function harness() {
  let n = 0;
  const live = new Set<string>();
  const urls: ObjectUrls = {
    create: () => {
      const url = `blob:test/${++n}`;
      live.add(url);
      return url;
    },
    revoke: (url) => {
      expect(live.has(url), `revoking ${url} twice or unknown`).toBe(true);
      live.delete(url);
    },
  };
  const fetches: { key: string; resolve: (b: Blob) => void; reject: (e: Error) => void }[] = [];
  const blobs = new BlobUrls(
    (key) => new Promise<Blob>((resolve, reject) => fetches.push({ key, resolve, reject })),
    urls,
  );
  const flush = () => new Promise<void>((r) => setTimeout(r, 0));
  return { blobs, live, fetches, flush };
}

describe('blob: URLs of the web client', () => {
  it('one fetch and one URL for every holder; revoked when the last one lets go, not before', async () => {
    const { blobs, live, fetches, flush } = harness();
    const a = blobs.acquire('thumbnail:m1');
    const b = blobs.acquire('thumbnail:m1');
    expect(fetches).toHaveLength(1);
    fetches[0]!.resolve(new Blob(['x']));
    expect(await a.url).toBe(await b.url);
    a.release();
    a.release(); // idempotent: does not count as b's release
    await flush();
    expect(live.size).toBe(1);
    b.release();
    await flush();
    expect(live.size).toBe(0);
    expect(blobs.held()).toEqual([]);

    // Shown again later: fetched again, a new URL.
    const c = blobs.acquire('thumbnail:m1');
    expect(fetches).toHaveLength(2);
    fetches[1]!.resolve(new Blob(['x']));
    expect(await c.url).not.toBe(await a.url);
    c.release();
    await flush();
    expect(live.size).toBe(0);
  });

  it('a URL released before its bytes arrived is revoked as soon as it exists', async () => {
    const { blobs, live, fetches, flush } = harness();
    const lease = blobs.acquire('full:m2');
    lease.release();
    expect(blobs.held()).toEqual([]);
    fetches[0]!.resolve(new Blob(['y']));
    await flush();
    expect(live.size).toBe(0);
  });

  it('a failed fetch is forgotten (the next holder tries again) and leaves nothing to revoke', async () => {
    const { blobs, live, fetches, flush } = harness();
    const lease = blobs.acquire('full:m3');
    fetches[0]!.reject(new Error('Download failed (404).'));
    await expect(lease.url).rejects.toThrow('404');
    expect(blobs.held()).toEqual([]);
    lease.release();
    const retry = blobs.acquire('full:m3');
    expect(fetches).toHaveLength(2);
    fetches[1]!.resolve(new Blob(['z']));
    await retry.url;
    retry.release();
    await flush();
    expect(live.size).toBe(0);
  });

  it('different keys are separate URLs with separate lives', async () => {
    const { blobs, live, fetches, flush } = harness();
    const thumb = blobs.acquire('thumbnail:m4');
    const full = blobs.acquire('full:m4');
    for (const f of fetches) f.resolve(new Blob([f.key]));
    await Promise.all([thumb.url, full.url]);
    full.release(); // the dialog closed; the thumbnail is still shown
    await flush();
    expect([...live]).toEqual([await thumb.url]);
    thumb.release();
    await flush();
    expect(live.size).toBe(0);
  });
});
