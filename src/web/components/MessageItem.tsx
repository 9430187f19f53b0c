/**
 * One message: who and when, the quoted message it replies to, its text or media, an
 * "edited" mark, reactions, and for your own messages the status (✓ sent, ✓✓ delivered,
 * blue ✓✓ read; "Read by k of n" in groups, which opens the detail). Actions sit in a
 * disclosure menu reachable by keyboard.
 */
import type { MessageEvent } from '../../client/index.js';
import type { MessageStatus } from '../lib/receipts.js';
import { client } from '../lib/session.js';
import { nameOf, useUserName } from '../lib/users.js';
import { MediaView } from './MediaView.js';

export type MessageAction =
  | { kind: 'reply' }
  | { kind: 'edit' }
  | { kind: 'react'; emoji: string; op: 'add' | 'remove' }
  | { kind: 'delete'; scope: 'me' | 'everyone' }
  | { kind: 'receipts' };

const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢'];
const STATUS_TEXT = { sent: 'Sent', delivered: 'Delivered', read: 'Read' } as const;

function time(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function MessageItem(props: { message: MessageEvent; mine: boolean; group: boolean; status: MessageStatus | null; onAction: (a: MessageAction) => void }) {
  const { message: m, mine, status } = props;
  const author = useUserName(m.author.userId);
  const me = client.user?.id ?? '';
  const deleted = Boolean(m.deleted);
  const close = (event: Event) => (event.currentTarget as HTMLElement).closest('details')?.removeAttribute('open');
  const act = (a: MessageAction) => (event: Event) => {
    close(event);
    props.onAction(a);
  };

  return (
    <li class={`message ${mine ? 'mine' : 'theirs'}`} data-seq={m.seq}>
      <article class="bubble" aria-label={`${mine ? 'You' : author} at ${time(m.ts)}`}>
        {!mine && props.group && <span class="author">{author}</span>}
        {m.replyTo && (
          <blockquote class="quote">
            <span class="author">{m.replyTo.userId ? nameOf(m.replyTo.userId) : 'Reply'}</span>
            {m.replyTo.quote ?? <em>Message unavailable</em>}
          </blockquote>
        )}
        {deleted ? (
          <p class="text muted">
            <em>This message was deleted.</em>
          </p>
        ) : m.content?.type === 'text' ? (
          <p class="text">{m.content.text}</p>
        ) : m.content?.type === 'media' ? (
          <MediaView content={m.content} />
        ) : null}
        {m.reactions && m.reactions.length > 0 && (
          <ul class="reactions" aria-label="Reactions">
            {m.reactions.map((r) => {
              const mineToo = r.userIds.includes(me);
              return (
                <li key={r.emoji}>
                  <button
                    type="button"
                    class={`reaction ${mineToo ? 'own' : ''}`}
                    aria-pressed={mineToo}
                    aria-label={`${r.emoji} ${r.userIds.length}: ${r.userIds.map(nameOf).join(', ')}`}
                    onClick={() => props.onAction({ kind: 'react', emoji: r.emoji, op: mineToo ? 'remove' : 'add' })}
                  >
                    {r.emoji} {r.userIds.length}
                  </button>
                </li>
              );
            })}
          </ul>
        )}
        <span class="meta">
          {m.edited && !deleted && <span class="edited">edited</span>}
          <time dateTime={new Date(m.ts).toISOString()}>{time(m.ts)}</time>
          {mine && status && !deleted && (
            props.group ? (
              <button type="button" class="ghost read-by" data-status={status.status} onClick={() => props.onAction({ kind: 'receipts' })}>
                {status.read > 0 ? `Read by ${status.read} of ${status.recipients}` : STATUS_TEXT[status.status]}
              </button>
            ) : (
              <span class="status" data-status={status.status} aria-label={STATUS_TEXT[status.status]} title={STATUS_TEXT[status.status]}>
                {status.status === 'sent' ? '✓' : '✓✓'}
              </span>
            )
          )}
        </span>
      </article>
      {!deleted && (
        <details class="actions">
          <summary aria-label="Message actions">⋯</summary>
          <div class="menu">
            <div class="quick" role="group" aria-label="React">
              {QUICK_REACTIONS.map((emoji) => (
                <button type="button" key={emoji} class="ghost" onClick={act({ kind: 'react', emoji, op: m.reactions?.find((r) => r.emoji === emoji)?.userIds.includes(me) ? 'remove' : 'add' })} aria-label={`React ${emoji}`}>
                  {emoji}
                </button>
              ))}
            </div>
            <button type="button" class="ghost" onClick={act({ kind: 'reply' })}>
              Reply
            </button>
            {mine && m.content?.type === 'text' && (
              <button type="button" class="ghost" onClick={act({ kind: 'edit' })}>
                Edit
              </button>
            )}
            {mine && (
              <button type="button" class="ghost" onClick={act({ kind: 'receipts' })}>
                Info
              </button>
            )}
            <button type="button" class="ghost" onClick={act({ kind: 'delete', scope: 'me' })}>
              Delete for me
            </button>
            {mine && (
              <button type="button" class="ghost danger" onClick={act({ kind: 'delete', scope: 'everyone' })}>
                Delete for everyone
              </button>
            )}
          </div>
        </details>
      )}
    </li>
  );
}
