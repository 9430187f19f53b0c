/**
 * Media in a message: an image's server thumbnail (fetched with the token, shown from a
 * blob: URL) that opens the full image in a dialog; other files as a download link.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { MessageContent } from '../../client/index.js';
import { mediaUrl } from '../lib/media.js';

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

  useEffect(() => {
    if (!isImage) return;
    let live = true;
    void mediaUrl(content.mediaId, content.thumbnail ? 'thumbnail' : 'full').then(
      (url) => live && setThumb(url),
      () => live && setError('Image unavailable'),
    );
    return () => {
      live = false;
    };
  }, [content.mediaId]);

  const openFull = async () => {
    try {
      setFull(await mediaUrl(content.mediaId, 'full'));
      dialog.current?.showModal();
    } catch {
      setError('Image unavailable');
    }
  };

  const download = async (event: Event) => {
    event.preventDefault();
    try {
      const url = await mediaUrl(content.mediaId, 'full');
      const a = document.createElement('a');
      a.href = url;
      a.download = content.caption ?? `file-${content.mediaId.slice(0, 8)}`;
      a.click();
    } catch {
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
