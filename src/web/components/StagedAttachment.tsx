/** A file picked to send, above the composer: its preview (images) or name, its size, and a way to take it back. */

export function StagedAttachment(props: { file: File; previewUrl: string | null; onRemove: () => void }) {
  const { file, previewUrl } = props;
  return (
    <div class="staged" role="group" aria-label="Attachment to send">
      {previewUrl ? <img src={previewUrl} alt={`Preview of ${file.name}`} /> : <span class="file-name">{file.name}</span>}
      <span class="muted">{formatSize(file.size)} · add a caption below, then Send</span>
      <button type="button" class="ghost" onClick={props.onRemove}>
        Remove attachment
      </button>
    </div>
  );
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
