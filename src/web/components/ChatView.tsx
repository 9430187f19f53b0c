/**
 * One conversation: header (title, the peer's presence, connection state, search, members),
 * the message list (opens at the first unread message, scrolls back through history at
 * the top, follows new messages at the bottom, announced through an aria-live region),
 * who is typing, and the composer (reply / edit bar, a staged attachment with its caption,
 * an upload progress bar). About 495 lines (with the encryption lock and notices): the view's state and handlers are one
 * closure over the open conversation; its pieces are components (MessageItem, MarkItem, Quote,
 * SearchPanel, StagedAttachment) and the logic lives in lib/ (useConversation, marks).
 */
import { Fragment } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ChatError, type ConversationHandle, type MessageEvent } from '../../client/index.js';
import { connectionView, useBrowserOnline } from '../lib/connection.js';
import { firstUnreadNotLoaded, marksBefore } from '../lib/marks.js';
import { upload } from '../lib/media.js';
import { presenceText, usePresence } from '../lib/presence.js';
import { messageStatus } from '../lib/receipts.js';
import { knownReadSeq, noteRead } from '../lib/known.js';
import { useEncryptionStatus } from '../lib/e2ee.js';
import { placeNotices } from '../lib/key-notices.js';
import { client } from '../lib/session.js';
import { useConversation, visibleMessages } from '../lib/useConversation.js';
import { nameOf, useUserName } from '../lib/users.js';
import { ErrorNote } from './Form.js';
import { KeyNoticeItem, LockIcon } from './KeyNotice.js';
import { MembersDialog } from './GroupDialog.js';
import { MessageItem, followMenus, type MessageAction } from './MessageItem.js';
import { ReceiptDialog } from './ReceiptDialog.js';
import { SafetyNumbersDialog } from './SafetyNumbers.js';
import { SearchPanel } from './SearchPanel.js';
import { MarkItem } from './MarkItem.js';
import { Quote } from './Quote.js';
import { StagedAttachment } from './StagedAttachment.js';
import { errorText } from '../lib/errors.js';

/** Re-announce typing at most this often (the server expires a start after 5 s). */
const TYPING_REFRESH_MS = 3_000;
/** How much of the read messages above the "new messages" divider a chat opens with in view. */
const UNREAD_CONTEXT_PX = 32;
/** At most this many older pages are read to open a chat at its first unread message. */
const UNREAD_MAX_PAGES = 5;
/** At most this many older pages are read to show a search hit. */
const JUMP_MAX_PAGES = 20;
/** How long a message shown from search stays highlighted. */
const FOUND_HIGHLIGHT_MS = 2_500;
/** Pixels from the top that trigger loading an older page. */
const LOAD_OLDER_MARGIN = 120;
/** Why the Search button of an end-to-end encrypted chat is off. */
export const SEARCH_OFF_REASON = 'Search is off in end-to-end encrypted chats: the server cannot read the messages to search them.';

export function ChatView(props: { id: string; onBack: () => void; onChanged: () => void }) {
  const me = client.user!.id;
  const readUpTo = useRef(0);
  const markRead = (m: MessageEvent) => {
    if (m.seq <= readUpTo.current || document.visibilityState !== 'visible') return;
    readUpTo.current = m.seq;
    noteRead(props.id, m.seq);
    void state.handle?.markRead(m.seq).then(props.onChanged, () => {
      readUpTo.current = 0;
    });
  };
  const { state, loadOlder, retry, dismiss, hide, edit } = useConversation(props.id, markRead);
  // Where "new messages" starts: the read watermark as the chat was opened.
  const [readSeqAtOpen] = useState(() => knownReadSeq(props.id));
  /** The first page of history is in and the view has been placed (at the first unread, else the bottom). */
  const placed = useRef(false);
  const placingPages = useRef(0);
  /** The newest seq once placed: messages after it came while the chat was on screen. */
  const openedAt = useRef<number | null>(null);
  const online = useBrowserOnline();
  const [replyTo, setReplyTo] = useState<MessageEvent | null>(null);
  const [editing, setEditing] = useState<MessageEvent | null>(null);
  const [detailSeq, setDetailSeq] = useState<number | null>(null);
  const [membersOpen, setMembersOpen] = useState(false);
  const [searching, setSearching] = useState(false);
  const [safetyOpen, setSafetyOpen] = useState(false);
  const encryption = useEncryptionStatus();
  /** A file picked to send: previewed, with the composer's text as its caption, until Send or Remove. */
  const [staged, setStaged] = useState<{ file: File; previewUrl: string | null } | null>(null);
  const [progress, setProgress] = useState<{ name: string; loaded: number; total: number } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const listRef = useRef<HTMLOListElement>(null);
  const atBottom = useRef(true);
  const heightBefore = useRef<number | null>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const lastTyping = useRef(0);

  const info = state.info;
  // Until its details arrive (offline, they may not for a while), the list's summary says what the chat is.
  const kind = info?.kind ?? state.summary?.kind ?? null;
  const peerId = kind === 'direct' ? (info ? (info.members.find((m) => m.userId !== me)?.userId ?? null) : (state.summary?.peerId ?? null)) : null;
  const peerName = useUserName(peerId);
  const knownPresence = usePresence(peerId);
  const title = kind === 'direct' ? peerName : kind === 'group' ? (info?.title ?? state.summary?.title ?? 'Group') : '…';
  const memberIds = info?.members.map((m) => m.userId) ?? [];
  const encrypted = info?.encrypted ?? state.summary?.encrypted ?? false;
  // A channel lists its first members only: the list's row knows this user's role.
  const myRole = info?.members.find((m) => m.userId === me)?.role ?? state.summary?.role;
  const readOnly = info?.broadcast === true && myRole === 'member';
  const messages = visibleMessages(state.timeline);
  const notices = placeNotices(messages, state.notices.values(), state.hasMore);
  const marks = marksBefore(messages, { me, readSeqAtOpen, hasOlder: state.hasMore, ...(openedAt.current === null ? {} : { openedAt: openedAt.current }) });
  const sending = [...state.sending.values()];
  const queued = sending.filter((s) => s.state === 'sending').length;
  const wire = state.handle?.transport ?? null;
  const connection = connectionView({ status: state.status, browserOnline: online, queued, transport: wire });
  // Offline, this device cannot hear presence changes: showing the last state would be a guess.
  const presence = connection.tone === 'online' ? knownPresence : undefined;
  const typingNames = [...state.typing.keys()].filter((id) => id !== me).map(nameOf);

  // Keep the view pinned to the newest message, or in place after prepending older ones.
  useLayoutEffect(() => {
    const list = listRef.current;
    if (!list) return;
    if (heightBefore.current !== null) {
      list.scrollTop += list.scrollHeight - heightBefore.current;
      heightBefore.current = null;
    } else if (!placed.current && state.loaded) {
      // Read back to the first unread message (a few pages at most) before placing the view there.
      if (firstUnreadNotLoaded(messages, readSeqAtOpen, state.hasMore) && placingPages.current < UNREAD_MAX_PAGES) {
        if (!state.loadingOlder) {
          placingPages.current++;
          void loadOlder();
        }
        return;
      }
      placed.current = true;
      openedAt.current = messages.at(-1)?.seq ?? 0;
      const divider = list.querySelector<HTMLElement>('[data-mark="unread"]');
      // A little of what was read above the divider stays in view, for context.
      list.scrollTop = divider ? list.scrollTop + divider.getBoundingClientRect().top - list.getBoundingClientRect().top - UNREAD_CONTEXT_PX : list.scrollHeight;
      atBottom.current = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    } else if (atBottom.current) {
      list.scrollTop = list.scrollHeight;
    }
  });

  useEffect(() => {
    const onVisible = () => {
      const newest = messages.filter((m) => m.author.userId !== me).at(-1);
      if (newest) markRead(newest);
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  });

  /** Shows message `seq` (a search hit), reading older pages until it is loaded. */
  const jumpTo = async (seq: number) => {
    for (let pages = 0; !state.timeline.has(seq) && state.hasMore && pages < JUMP_MAX_PAGES; pages++) {
      heightBefore.current = listRef.current?.scrollHeight ?? null;
      await loadOlder();
      await new Promise(requestAnimationFrame);
    }
    const item = listRef.current?.querySelector<HTMLElement>(`li.message[data-seq="${seq}"]`);
    if (!item) return setNotice(state.timeline.has(seq) ? 'That message is no longer shown.' : 'That message is too far back to show here.');
    atBottom.current = false;
    item.scrollIntoView({ block: 'center' });
    item.classList.add('found');
    setTimeout(() => item.classList.remove('found'), FOUND_HIGHLIGHT_MS);
  };

  const onScroll = () => {
    const list = listRef.current;
    if (!list) return;
    followMenus(list);
    atBottom.current = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    if (list.scrollTop < LOAD_OLDER_MARGIN && state.hasMore && !state.loadingOlder) {
      heightBefore.current = list.scrollHeight;
      void loadOlder();
    }
  };

  const onInput = (event: Event) => {
    const text = (event.currentTarget as HTMLTextAreaElement).value;
    const now = Date.now();
    if (text && now - lastTyping.current > TYPING_REFRESH_MS) {
      // Counted only once it went out: typed before the chat connected, the next keystroke tries again.
      if (state.handle?.typing('start')) lastTyping.current = now;
    } else if (!text && lastTyping.current) {
      lastTyping.current = 0;
      state.handle?.typing('stop');
    }
  };

  const submit = async (event?: Event) => {
    event?.preventDefault();
    const input = inputRef.current;
    const handle = state.handle;
    const text = input?.value.trim() ?? '';
    if (!input || !handle || (!text && !staged)) return;
    if (lastTyping.current) {
      lastTyping.current = 0;
      handle.typing('stop');
    }
    input.value = '';
    atBottom.current = true;
    if (staged && !editing) return sendStaged(handle, text);
    try {
      if (editing) {
        setEditing(null);
        await edit(editing.seq, text);
      } else if (replyTo) {
        setReplyTo(null);
        await handle.reply(replyTo.seq, text);
      } else {
        await handle.send(text);
      }
      props.onChanged();
    } catch (err) {
      if (err instanceof ChatError && err.code === 'closed') return;
      setNotice(errorText(err));
      // Refused before it was queued (e.g. it could not be encrypted): the text is not lost.
      if (!input.value) input.value = text;
    }
  };

  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key === 'Enter' && !event.shiftKey) void submit(event);
    if (event.key === 'Escape') {
      setReplyTo(null);
      setEditing(null);
    }
  };

  /** Stages a picked file: nothing is uploaded until Send. */
  const attach = (event: Event) => {
    const input = event.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    input.value = '';
    if (!file) return;
    unstage();
    setStaged({ file, previewUrl: file.type.startsWith('image/') ? URL.createObjectURL(file) : null });
    inputRef.current?.focus();
  };

  const unstage = () => setStaged(null);
  // A preview's bytes are let go once it is replaced, removed, sent, or the view closes.
  useEffect(() => () => void (staged?.previewUrl && URL.revokeObjectURL(staged.previewUrl)), [staged]);

  /** Uploads the staged file and sends it, the composer's text as its caption. */
  const sendStaged = async (handle: ConversationHandle, caption: string) => {
    const { file } = staged!;
    unstage();
    setProgress({ name: file.name, loaded: 0, total: file.size });
    try {
      const media = await upload(file, props.id, (p) => setProgress({ name: file.name, loaded: p.loaded, total: p.total }));
      atBottom.current = true;
      await handle.send({ type: 'media', mediaId: media.mediaId, ...(caption ? { caption } : {}) });
    } catch (err) {
      setNotice(`Upload failed: ${errorText(err)}`);
    } finally {
      setProgress(null);
    }
  };

  const act = async (action: MessageAction, m: MessageEvent) => {
    const handle = state.handle;
    if (!handle) return;
    try {
      switch (action.kind) {
        case 'reply':
          setEditing(null);
          setReplyTo(m);
          inputRef.current?.focus();
          return;
        case 'edit':
          setReplyTo(null);
          setEditing(m);
          if (inputRef.current && m.content?.type === 'text') inputRef.current.value = m.content.text;
          inputRef.current?.focus();
          return;
        case 'react':
          await handle.react(m.seq, action.emoji, action.op);
          return;
        case 'delete':
          await handle.delete(m.seq, action.scope);
          if (action.scope === 'me') hide(m.seq);
          // The list's preview may have been this message (the service moves it off, as for a read).
          props.onChanged();
          return;
        case 'receipts':
          setDetailSeq(m.seq);
          return;
      }
    } catch (err) {
      setNotice(errorText(err));
    }
  };

  return (
    <section class="chat" aria-labelledby="chat-title">
      <header class="chat-header">
        <button type="button" class="ghost back" onClick={props.onBack} aria-label="Back to conversations">
          ←
        </button>
        <div class="chat-heading">
          <div class="title-row">
            <h2 id="chat-title">{title}</h2>
            {encrypted && (
              <button type="button" class="ghost lock-mark" data-testid="chat-lock" title="End-to-end encrypted: compare safety numbers" onClick={() => setSafetyOpen(true)}>
                <LockIcon />
                <span class="lock-label" aria-hidden="true">
                  Encrypted
                </span>
                <span class="sr-only">End-to-end encrypted: safety numbers</span>
              </button>
            )}
            {presence && (
              <span class="chat-presence" data-testid="chat-presence" data-online={String(presence.online)}>
                <span class={`presence-dot ${presence.online ? 'online' : 'offline'}`} aria-hidden="true" />
                {presenceText(presence, Date.now())}
              </span>
            )}
          </div>
          <p class={`connection ${connection.tone}`} role="status" data-testid="connection">
            <span class="dot" aria-hidden="true" />
            {connection.text}
          </p>
        </div>
        {info &&
          (encrypted ? (
            // Off, with its reason on hover and for screen readers (not an error after trying).
            <span class="search-off" title={SEARCH_OFF_REASON}>
              <button type="button" class="ghost" disabled aria-describedby="search-off-reason">
                Search
              </button>
              <span id="search-off-reason" class="sr-only">
                {SEARCH_OFF_REASON}
              </span>
            </span>
          ) : (
            <button type="button" class="ghost" aria-expanded={searching} onClick={() => setSearching((open) => !open)}>
              Search
            </button>
          ))}
        {info?.kind === 'group' && (
          <button type="button" onClick={() => setMembersOpen(true)}>
            Members ({info.memberCount})
          </button>
        )}
      </header>
      {searching && !encrypted && <SearchPanel conversationId={props.id} onPick={(seq) => void jumpTo(seq)} onClose={() => setSearching(false)} />}
      <ErrorNote error={state.error} />
      <ol class="messages" ref={listRef} onScroll={onScroll} aria-label={`Messages with ${title}`} aria-live="polite" aria-relevant="additions" tabIndex={0}>
        {!state.loaded && (
          <li class="older muted" data-testid="history-status">
            {state.awaitingKeys ? keysNote(encryption.state === 'starting' ? encryption.error : undefined) : historyNote(connection.tone !== 'offline', state.cached.size > 0)}
          </li>
        )}
        {state.hasMore && (
          <li class="older">
            <button type="button" class="ghost" disabled={state.loadingOlder} onClick={() => ((heightBefore.current = listRef.current?.scrollHeight ?? null), void loadOlder())}>
              {state.loadingOlder ? 'Loading…' : 'Load older messages'}
            </button>
          </li>
        )}
        {messages.map((m) => (
          <Fragment key={m.seq}>
            {marks.get(m.seq)?.map((mark) => <MarkItem key={mark.kind} mark={mark} />)}
            {notices.before.get(m.seq)?.map((n) => <KeyNoticeItem key={`n${n.seq}`} notice={n} me={me} onVerify={() => setSafetyOpen(true)} />)}
            <MessageItem
              message={m}
              pendingText={state.edits.get(m.seq)}
              mine={m.author.userId === me}
              group={kind === 'group'}
              localQuote={m.replyTo && m.replyTo.quote == null ? quoteFrom(state.timeline.get(m.replyTo.seq)) : undefined}
              status={m.author.userId === me ? messageStatus(m.seq, me, memberIds, state.watermarks) : null}
              online={online}
              canPost={!readOnly}
              onAction={(a) => void act(a, m)}
            />
          </Fragment>
        ))}
        {notices.after.map((n) => (
          <KeyNoticeItem key={`n${n.seq}`} notice={n} me={me} onVerify={() => setSafetyOpen(true)} />
        ))}
        {sending.map((s) => {
          // A reply waiting to go (offline, say): what it answers, from this device's timeline.
          const replied = s.replyToSeq === undefined ? undefined : state.timeline.get(s.replyToSeq);
          return (
            <li key={s.cmid} class="message mine pending" data-state={s.state}>
              <div class="bubble">
                {s.replyToSeq !== undefined && <Quote userId={replied?.author.userId} text={quoteFrom(replied)} />}
                {s.content.type === 'text' ? (
                  <p class="text">{s.content.text}</p>
                ) : (
                  // Restored after a reload, an encrypted send is only its envelope: its text stays sealed until it is in.
                  <p class="text muted">{s.content.type === 'encrypted' ? 'Encrypted message' : 'Attachment'}</p>
                )}
                <span class="meta">
                  {s.state === 'failed' ? (
                    <>
                      <span class="failed">Not sent: {s.error}</span>
                      <button type="button" class="ghost" onClick={() => retry(s.cmid)}>
                        Retry
                      </button>
                      <button type="button" class="ghost" onClick={() => dismiss(s.cmid)}>
                        Discard
                      </button>
                    </>
                  ) : (
                    <span class="status" data-status={state.status === 'open' ? 'sending' : 'queued'}>
                      {state.status === 'open' && online ? 'Sending…' : 'Queued'}
                    </span>
                  )}
                </span>
              </div>
            </li>
          );
        })}
      </ol>
      <p class="typing" aria-live="polite" data-testid="typing">
        {typingNames.length > 0 ? `${typingNames.join(', ')} ${typingNames.length > 1 ? 'are' : 'is'} typing…` : ''}
      </p>
      <ErrorNote error={notice}>
        {' '}
        <button type="button" class="ghost" onClick={() => setNotice(null)}>
          Dismiss
        </button>
      </ErrorNote>
      {progress && (
        <div class="upload">
          <label for="upload-progress">Uploading {progress.name}</label>
          <progress id="upload-progress" max={progress.total} value={progress.loaded} />
        </div>
      )}
      {staged && <StagedAttachment file={staged.file} previewUrl={staged.previewUrl} onRemove={unstage} />}
      {(replyTo || editing) && (
        <div class="composer-context">
          <span>
            {editing ? 'Editing your message' : `Replying to ${nameOf(replyTo!.author.userId)}: `}
            {replyTo?.content?.type === 'text' && <q>{replyTo.content.text.slice(0, 80)}</q>}
          </span>
          <button type="button" class="ghost" onClick={() => (setReplyTo(null), setEditing(null))} aria-label="Cancel">
            ✕
          </button>
        </div>
      )}
      {readOnly ? (
        <p class="composer muted" data-testid="read-only">
          Only the owner and admins post in this channel.
        </p>
      ) : (
        <form class="composer" onSubmit={submit}>
          <label class="attach" title="Attach a file">
            <span class="sr-only">Attach a file</span>
            <input type="file" class="sr-only" onChange={attach} disabled={!state.handle || progress !== null || editing !== null} />
            <svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round">
              <path d="M21 11.5l-8.5 8.5a5 5 0 0 1-7-7L14 4.5a3.5 3.5 0 0 1 5 5L10.5 18a2 2 0 0 1-3-3L15 7.5" />
            </svg>
          </label>
          <label class="sr-only" for="composer-input">
            Message
          </label>
          <textarea id="composer-input" ref={inputRef} rows={1} placeholder={staged ? 'Caption (optional)' : 'Message'} onInput={onInput} onKeyDown={onKeyDown} disabled={!state.handle} />
          <button type="submit" class="primary" disabled={!state.handle}>
            {editing ? 'Save' : 'Send'}
          </button>
        </form>
      )}
      {detailSeq !== null && state.handle && <ReceiptDialog handle={state.handle} seq={detailSeq} onClose={() => setDetailSeq(null)} />}
      {safetyOpen && <SafetyNumbersDialog memberIds={memberIds.length ? memberIds : peerId ? [peerId] : []} onClose={() => setSafetyOpen(false)} />}
      {membersOpen && info && (
        <MembersDialog
          info={info}
          onClose={() => setMembersOpen(false)}
          onLeft={() => {
            props.onChanged();
            props.onBack();
          }}
        />
      )}
    </section>
  );
}

/** The text a reply quotes, when the service could not send it (end-to-end encrypted chats) and the message is loaded. */
function quoteFrom(m: MessageEvent | undefined): string | undefined {
  if (m?.content?.type === 'text') return m.content.text.slice(0, 200);
  if (m?.content?.type === 'media') return m.content.caption ?? 'Attachment';
  return undefined;
}

/** What an encrypted chat says while this device's encryption is being turned on. */
function keysNote(error: string | undefined): string {
  return error ? `Setting up encryption on this device: ${error} Trying again…` : 'Setting up encryption on this device…';
}

/**
 * What the top of the list says until the newest page of history is in. `online`: as the
 * connection line has it, not `navigator.onLine` alone, which can say online when nothing
 * gets through (a network without internet; Chromium after reloading an offline page).
 */
function historyNote(online: boolean, kept: boolean): string {
  if (online) return kept ? 'Updating…' : 'Loading messages…';
  return kept
    ? 'Offline: showing the messages kept on this device. You can write now; it is sent when the network is back.'
    : 'Offline: messages load when the network is back. You can write now; it is sent then.';
}
