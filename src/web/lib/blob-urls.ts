/**
 * @module web/lib/blob-urls
 * blob: URLs shared by whoever shows the same bytes, revoked when the last of them lets
 * go. A blob: URL keeps its Blob in memory until it is revoked or the page unloads, so a
 * long session that scrolls through many photos would otherwise hold every one of them.
 */

/** Creating and revoking URLs; the browser's by default, replaceable in tests. */
export interface ObjectUrls {
  create(blob: Blob): string;
  revoke(url: string): void;
}

const BROWSER: ObjectUrls = { create: (blob) => URL.createObjectURL(blob), revoke: (url) => URL.revokeObjectURL(url) };

/** One holder's use of a URL: `release()` once it is no longer shown (idempotent). */
export interface BlobLease {
  url: Promise<string>;
  release(): void;
}

interface Entry {
  url: Promise<string>;
  holders: number;
}

/** blob: URLs by key, fetched once while anyone holds them. */
export class BlobUrls {
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly fetchBlob: (key: string) => Promise<Blob>,
    private readonly urls: ObjectUrls = BROWSER,
  ) {}

  /** A lease on the URL for `key`, fetching the bytes unless someone already holds them. */
  acquire(key: string): BlobLease {
    let entry = this.#entries.get(key);
    if (!entry) {
      const url = this.fetchBlob(key).then((blob) => this.urls.create(blob));
      const created: Entry = { url, holders: 0 };
      // A failed fetch is forgotten, so the next holder tries again.
      url.catch(() => this.#entries.get(key) === created && this.#entries.delete(key));
      this.#entries.set(key, created);
      entry = created;
    }
    const held = entry;
    held.holders++;
    let released = false;
    return {
      url: held.url,
      release: () => {
        if (released) return;
        released = true;
        if (--held.holders > 0) return;
        if (this.#entries.get(key) === held) this.#entries.delete(key);
        // Revoked once created, even if the fetch is still running when the last holder leaves.
        held.url.then((url) => this.urls.revoke(url), () => {});
      },
    };
  }

  /** Keys with a URL held (for tests and debugging). */
  held(): string[] {
    return [...this.#entries.keys()];
  }
}
