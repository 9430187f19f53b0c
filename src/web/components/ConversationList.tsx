/**
 * The conversation list: newest activity first, with unread counts, last-message previews
 * and presence dots where the service provides them; a form to start a direct chat by
 * handle, and a dialog to create a group.
 */
import { useEffect, useState } from 'preact/hooks';
import { ChatError, type ConversationSummary } from '../../client/index.js';
import { client } from '../lib/session.js';
import { rememberUser, useUserName } from '../lib/users.js';
import { GroupDialog } from './GroupDialog.js';

/** How often the list is re-read while no live inbox stream updates it. */
const LIST_REFRESH_MS = 4_000;

type Summary = ConversationSummary;

export function ConversationList(props: { openId: string | null; onOpen: (id: string) => void; version: number }) {
  const [items, setItems] = useState<Summary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);

  const load = async () => {
    try {
      setItems(await client.conversations());
      setError(null);
    } catch (err) {
      setError(err instanceof ChatError && err.code === 'network' ? 'Offline: showing the last list.' : 'Could not load conversations.');
    }
  };

  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), LIST_REFRESH_MS);
    return () => clearInterval(timer);
  }, [props.version, props.openId]);

  const startDirect = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const handle = String(new FormData(form).get('handle') ?? '').trim().replace(/^@/, '').toLowerCase();
    if (!handle) return;
    setError(null);
    try {
      const user = await client.userByHandle(handle);
      rememberUser(user);
      const conversation = await client.createDirect(user.id);
      form.reset();
      await load();
      props.onOpen(conversation.id);
    } catch (err) {
      setError(err instanceof ChatError && err.code === 'user_not_found' ? `Nobody has the handle @${handle}.` : err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <div class="list-pane">
      <form class="start-chat" onSubmit={startDirect} aria-label="Start a direct chat">
        <label class="sr-only" for="start-handle">
          Handle to chat with
        </label>
        <input id="start-handle" name="handle" placeholder="@handle" autoCapitalize="none" spellcheck={false} />
        <button type="submit" class="primary">
          Chat
        </button>
        <button type="button" onClick={() => setCreating(true)}>
          New group
        </button>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {items === null ? (
        <p class="muted pad">Loading…</p>
      ) : items.length === 0 ? (
        <p class="muted pad">No conversations yet.</p>
      ) : (
        <ul class="conversations">
          {items.map((c) => (
            <ConversationRow key={c.id} item={c} active={c.id === props.openId} onOpen={props.onOpen} />
          ))}
        </ul>
      )}
      {creating && (
        <GroupDialog
          onClose={() => setCreating(false)}
          onCreated={(id) => {
            setCreating(false);
            void load();
            props.onOpen(id);
          }}
        />
      )}
    </div>
  );
}

function ConversationRow(props: { item: Summary; active: boolean; onOpen: (id: string) => void }) {
  const { item } = props;
  const peerName = useUserName(item.kind === 'direct' ? item.peerId : null);
  const title = item.kind === 'direct' ? peerName : (item.title ?? 'Group');
  const unread = item.unreadCount;
  const preview = item.preview?.text ?? (item.kind === 'group' ? 'Group' : 'Direct chat');
  return (
    <li>
      <button type="button" class={`conversation ${props.active ? 'active' : ''}`} aria-current={props.active ? 'true' : undefined} onClick={() => props.onOpen(item.id)}>
        <span class="avatar" aria-hidden="true">
          {title.slice(0, 1).toUpperCase()}
        </span>
        <span class="conversation-text">
          <span class="conversation-title">{title}</span>
          <span class="preview">{preview}</span>
        </span>
        {unread > 0 && (
          <span class="unread" aria-label={`${unread} unread`}>
            {unread > 99 ? '99+' : unread}
          </span>
        )}
      </button>
    </li>
  );
}
