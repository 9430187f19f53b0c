/**
 * One message: who and when, the quoted message it replies to, its text or media, an
 * "edited" mark, reactions, and for your own messages the status (✓ sent, ✓✓ delivered,
 * blue ✓✓ read; "Read by k of n" in groups, which opens the detail). Actions sit in a
 * disclosure menu reachable by keyboard.
 *
 * Offline, a reply and an edit are kept on the device and go once the network is back (a
 * reply through the SDK's outbox like any send; an edit in lib/pending-edits), but
 * reactions and deletes are offered only while online: their buttons are disabled and
 * the menu says why. Queuing them would show a state the other members do not see yet,
 * with no "not sent yet" mark for a reaction or a deletion (unlike a bubble's "Queued"),
 * and a delete for everyone replayed late can fall outside its window; a user is better
 * told plainly, at the moment they try, than surprised later.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { MessageEvent } from '../../client/index.js';
import type { MessageStatus } from '../lib/receipts.js';
import { client } from '../lib/session.js';
import { nameOf, useUserName } from '../lib/users.js';
import { MediaView } from './MediaView.js';
import { Quote } from './Quote.js';

export type MessageAction =
  | { kind: 'reply' }
  | { kind: 'edit' }
  | { kind: 'react'; emoji: string; op: 'add' | 'remove' }
  | { kind: 'delete'; scope: 'me' | 'everyone' }
  | { kind: 'receipts' };

const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢'];
const STATUS_TEXT = { sent: 'Sent', delivered: 'Delivered', read: 'Read' } as const;

/** Space kept between a menu and the viewport's edges, in px. */
const EDGE = 8;

/**
 * Puts an opened ⋯ menu beside its button and inside the viewport: below the button, or
 * above it when there is no room below (the newest messages sit at the bottom); its
 * right edge at the button's for your own messages (they are on the right), its left
 * edge for others'; then clamped to the edges. The menu is `position: fixed`, so the
 * message list's scrolling box cannot clip it. Set through the CSSOM, which the CSP allows.
 */
export function placeMenu(details: HTMLDetailsElement, mine: boolean): void {
  const menu = details.querySelector<HTMLElement>('.menu');
  const button = details.querySelector('summary');
  if (!details.open || !menu || !button) return;
  const anchor = button.getBoundingClientRect();
  const { width, height } = menu.getBoundingClientRect();
  const viewport = { width: document.documentElement.clientWidth, height: document.documentElement.clientHeight };
  const below = anchor.bottom + 4;
  const top = below + height <= viewport.height - EDGE ? below : Math.max(EDGE, anchor.top - 4 - height);
  const wanted = mine ? anchor.right - width : anchor.left;
  const left = Math.min(Math.max(EDGE, wanted), Math.max(EDGE, viewport.width - EDGE - width));
  menu.style.top = `${Math.round(top)}px`;
  menu.style.left = `${Math.round(left)}px`;
}

/** Closes every open message menu but `except` (one menu at a time). */
export function closeMenus(except?: Element): void {
  for (const open of document.querySelectorAll('details.actions[open]')) if (open !== except) open.removeAttribute('open');
}

/**
 * After the message list scrolled: an open menu follows its button while the button is
 * still inside the list's visible box, and closes once it is not (a fixed menu would
 * float over other messages). Following rather than closing matters because the list
 * also scrolls by itself: pinned to the newest message, it moves when anything below
 * grows or the box shrinks, and a menu the user just opened must survive that.
 */
export function followMenus(list: HTMLElement): void {
  const box = list.getBoundingClientRect();
  for (const open of list.querySelectorAll<HTMLDetailsElement>('details.actions[open]')) {
    const anchor = open.querySelector('summary')?.getBoundingClientRect();
    const visible = anchor && anchor.bottom > box.top && anchor.top < box.bottom;
    if (visible) placeMenu(open, open.dataset.mine === 'true');
    else open.removeAttribute('open');
  }
}

function time(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** `pendingText`: your edit of it, not taken by the service yet (offline, say): shown in place of the text. */
/**
 * `localQuote`: the quoted text from this device's timeline, for a reply whose quote the
 * service could not send (end-to-end encrypted chats).
 */
export function MessageItem(props: {
  message: MessageEvent;
  pendingText?: string | undefined;
  mine: boolean;
  group: boolean;
  status: MessageStatus | null;
  localQuote?: string | undefined;
  /** The browser is online: reactions and deletes need the service (see the module comment). */
  online: boolean;
  /** The user may post here (not a member of a broadcast channel): a reply is a post. */
  canPost: boolean;
  onAction: (a: MessageAction) => void;
}) {
  const { message: m, mine, status, online } = props;
  /** Why a reaction or delete button is disabled, or undefined while it may be used. */
  const offlineReason = online ? undefined : 'Needs a connection: you are offline.';
  /** Spread on each reaction and delete button: disabled offline, saying why. */
  const needsOnline = { disabled: !online, title: offlineReason };
  const author = useUserName(m.author.userId);
  const me = client.user?.id ?? '';
  const deleted = Boolean(m.deleted);
  const [confirming, setConfirming] = useState(false);
  const detailsRef = useRef<HTMLDetailsElement>(null);
  // The menu grew or shrank: keep it inside the viewport.
  useEffect(() => {
    if (detailsRef.current) placeMenu(detailsRef.current, mine);
  }, [confirming]);
  const close = (event: Event) => (event.currentTarget as HTMLElement).closest('details')?.removeAttribute('open');
  const act = (a: MessageAction) => (event: Event) => {
    close(event);
    props.onAction(a);
  };

  return (
    <li class={`message ${mine ? 'mine' : 'theirs'}`} data-seq={m.seq}>
      <article class="bubble" aria-label={`${mine ? 'You' : author} at ${time(m.ts)}`}>
        {!mine && props.group && <span class="author">{author}</span>}
        {m.replyTo && <Quote userId={m.replyTo.userId} text={m.replyTo.quote ?? props.localQuote} />}
        {deleted ? (
          <p class="text muted">
            <em>This message was deleted.</em>
          </p>
        ) : props.pendingText !== undefined ? (
          <p class="text">
            {props.pendingText} <span class="status muted">(edit not saved yet)</span>
          </p>
        ) : m.content?.type === 'text' ? (
          <p class="text">{m.content.text}</p>
        ) : m.content?.type === 'media' ? (
          <MediaView content={m.content} />
        ) : m.content?.type === 'encrypted' ? (
          // End-to-end encrypted and not readable here (not sent to this device, or its keys do not open it): never the envelope.
          <p class="text muted undecryptable">
            <em>This message could not be decrypted on this device.</em>
          </p>
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
                    {...needsOnline}
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
        <details
          ref={detailsRef}
          class="actions"
          data-mine={String(mine)}
          onToggle={(event) => {
            const details = event.currentTarget as HTMLDetailsElement;
            if (!details.open) return setConfirming(false);
            closeMenus(details);
            placeMenu(details, mine);
          }}
        >
          <summary aria-label="Message actions">⋯</summary>
          <div class="menu">
            {!online && (
              <p class="menu-note" role="note">
                Offline: reactions and deleting wait for a connection. Replies and edits are kept and sent when you are back.
              </p>
            )}
            <div class="quick" role="group" aria-label="React">
              {QUICK_REACTIONS.map((emoji) => (
                <button type="button" key={emoji} class="ghost" {...needsOnline} onClick={act({ kind: 'react', emoji, op: m.reactions?.find((r) => r.emoji === emoji)?.userIds.includes(me) ? 'remove' : 'add' })} aria-label={`React ${emoji}`}>
                  {emoji}
                </button>
              ))}
            </div>
            {props.canPost && (
              <button type="button" class="ghost" onClick={act({ kind: 'reply' })}>
                Reply
              </button>
            )}
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
            <button type="button" class="ghost" {...needsOnline} onClick={act({ kind: 'delete', scope: 'me' })}>
              Delete for me
            </button>
            {mine &&
              (confirming ? (
                // Erasing for everyone cannot be undone: a second, explicit click.
                <div class="confirm" role="group" aria-label="Delete for everyone?">
                  <button type="button" class="ghost danger" {...needsOnline} onClick={act({ kind: 'delete', scope: 'everyone' })}>
                    Yes, delete for everyone
                  </button>
                  <button type="button" class="ghost" onClick={() => setConfirming(false)}>
                    Keep it
                  </button>
                </div>
              ) : (
                <button type="button" class="ghost danger" {...needsOnline} onClick={() => setConfirming(true)}>
                  Delete for everyone
                </button>
              ))}
          </div>
        </details>
      )}
    </li>
  );
}
