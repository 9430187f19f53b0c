/**
 * Message search in one conversation (the server's search; end-to-end encrypted
 * conversations cannot be searched there, and say so). Hits are listed newest first with
 * their author and day; picking one shows it in the chat.
 */
import { useRef, useState } from 'preact/hooks';
import { ChatError, type MessageEvent } from '../../client/index.js';
import { errorText } from '../lib/errors.js';
import { dayLabel } from '../lib/marks.js';
import { client } from '../lib/session.js';
import { nameOf } from '../lib/users.js';
import { ErrorNote } from './Form.js';

/** Hits asked for per page. */
const SEARCH_PAGE = 20;

export function SearchPanel(props: { conversationId: string; onPick: (seq: number) => void; onClose: () => void }) {
  const [results, setResults] = useState<MessageEvent[] | null>(null);
  const [nextBefore, setNextBefore] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const query = useRef('');

  const run = async (before?: number) => {
    setBusy(true);
    setError(null);
    try {
      const page = await client.search(props.conversationId, query.current, { limit: SEARCH_PAGE, ...(before === undefined ? {} : { before }) });
      setResults((shown) => (before === undefined ? page.results : [...(shown ?? []), ...page.results]));
      setNextBefore(page.nextBefore);
    } catch (err) {
      setError(err instanceof ChatError && err.code === 'search_unavailable' ? 'This conversation is end-to-end encrypted: the server cannot search it.' : errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const submit = (event: SubmitEvent) => {
    event.preventDefault();
    query.current = String(new FormData(event.currentTarget as HTMLFormElement).get('q') ?? '').trim();
    if (query.current) void run();
  };

  return (
    <div class="search-panel">
      <form class="search-form" role="search" aria-label="Search this conversation" onSubmit={submit} onKeyDown={(e) => e.key === 'Escape' && props.onClose()}>
        <label class="sr-only" for={`search-${props.conversationId}`}>
          Search messages
        </label>
        <input id={`search-${props.conversationId}`} name="q" type="search" placeholder="Search messages" maxLength={200} autoFocus />
        <button type="submit" class="primary" disabled={busy}>
          Find
        </button>
        <button type="button" class="ghost" onClick={props.onClose}>
          Close
        </button>
      </form>
      <ErrorNote error={error} />
      {results && (
        <div class="search-results" aria-live="polite">
          <p class="muted">{results.length === 0 ? 'No messages match.' : `${results.length}${nextBefore !== null ? '+' : ''} found`}</p>
          <ul>
            {results.map((m) => (
              <li key={m.seq}>
                <button type="button" class="ghost search-hit" onClick={() => props.onPick(m.seq)}>
                  <span class="muted">
                    {nameOf(m.author.userId)} · {dayLabel(m.ts)}
                  </span>
                  <span class="search-text">{hitText(m)}</span>
                </button>
              </li>
            ))}
          </ul>
          {nextBefore !== null && (
            <button type="button" class="ghost" disabled={busy} onClick={() => void run(nextBefore)}>
              More results
            </button>
          )}
        </div>
      )}
    </div>
  );
}

function hitText(m: MessageEvent): string {
  const content = m.content;
  if (content?.type === 'text') return content.text;
  if (content?.type === 'media') return content.caption ?? 'Attachment';
  return '';
}
