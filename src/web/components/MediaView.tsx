/**
 * Media in a message: an image's server thumbnail (fetched with the token, shown from a
 * blob: URL) that opens the full image in a dialog; other files as a download link.
 * Each blob: URL is released when it stops being shown (unmount, another image, the
 * dialog closed), and revoked once nothing else shows it.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { MessageContent } from '../../client/index.js';
import { mediaUrl } from '../lib/media.js';
import type { BlobLease } from '../lib/blob-urls.js';

/**
 * How long a download's URL is kept after the click: the browser reads it once the
 * download starts, which is not synchronous everywhere (FileSaver.js waits 40 s too).
 */
const DOWNLOAD_HOLD_MS = 40_000;

type Media = Extract<MessageContent, { type: 'media' }>;

function size(bytes: number | undefined): string {
  if (bytes === undefined) return '';
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(0)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function MediaView(props: { content: Media }) {
  const { content } = props;
  const isImage = content.contentType?.startsWith('image/') ?? false;
  const [thumb, setThumb] = useState<string | null>(null);
  const [full, setFull] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  /** The full image's lease while the dialog shows it. */
  const fullLease = useRef<BlobLease | null>(null);
  const variant = content.thumbnail ? 'thumbnail' : 'full';

  useEffect(() => {
    if (!isImage) return;
    let live = true;
    const lease = mediaUrl(content.mediaId, variant);
    void lease.url.then(
      (url) => live && setThumb(url),
      () => live && setError('Image unavailable'),
    );
    return () => {
      live = false;
      setThumb(null);
      lease.release();
    };
  }, [content.mediaId, variant, isImage]);

  const closeFull = () => {
    fullLease.current?.release();
    fullLease.current = null;
    setFull(null);
  };

  // The dialog closes by its button, Escape or unmount: each lets the full image go.
  useEffect(() => {
    const node = dialog.current;
    node?.addEventListener('close', closeFull);
    return () => {
      node?.removeEventListener('close', closeFull);
      closeFull();
    };
  }, [content.mediaId]);

  const openFull = async () => {
    closeFull();
    const lease = mediaUrl(content.mediaId, 'full');
    fullLease.current = lease;
    try {
      const url = await lease.url;
      if (fullLease.current !== lease) return;
      setFull(url);
      dialog.current?.showModal();
    } catch {
      if (fullLease.current === lease) closeFull();
      setError('Image unavailable');
    }
  };

  const download = async (event: Event) => {
    event.preventDefault();
    const lease = mediaUrl(content.mediaId, 'full');
    try {
      const a = document.createElement('a');
      a.href = await lease.url;
      a.download = content.caption ?? `file-${content.mediaId.slice(0, 8)}`;
      a.click();
      setTimeout(lease.release, DOWNLOAD_HOLD_MS);
    } catch {
      lease.release();
      setError('Download failed');
    }
  };

  if (!isImage) {
    return (
      <p class="file">
        <a href="#" onClick={(e) => void download(e)}>
          📄 {content.caption ?? 'File'} {size(content.size)}
        </a>
        {error && <span class="error">{error}</span>}
      </p>
    );
  }
  const w = content.thumbnail?.width ?? content.width;
  const h = content.thumbnail?.height ?? content.height;
  return (
    <figure class="media">
      <button type="button" class="thumb" onClick={() => void openFull()} aria-label="Open image">
        {thumb ? <img src={thumb} alt={content.caption ?? 'Image'} width={w} height={h} /> : <span class="thumb-placeholder">{error ?? 'Loading image…'}</span>}
      </button>
      {content.caption && <figcaption>{content.caption}</figcaption>}
      <dialog ref={dialog} class="lightbox" aria-label="Image">
        {full && <img src={full} alt={content.caption ?? 'Image'} />}
        <form method="dialog">
          <button type="submit">Close</button>
        </form>
      </dialog>
    </figure>
  );
}
