/**
 * The conversation list: newest activity first, with unread counts, last-message previews
 * and presence dots; a form to start a direct chat by handle (end-to-end encrypted if
 * ticked), and a dialog to create a group. Encrypted conversations carry a lock, and
 * their preview is what this device decrypted (lib/encrypted-previews.ts). Kept live by
 * the device event stream (`lib/inbox.ts`), and by the open chat's own events ahead of it
 * (lib/open-chat.ts): it is read again only when an event cannot be folded in, when the
 * stream (re)connects, when the app changed something (`version`), and every
 * LIST_SAFETY_REFRESH_MS.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ChatError, type ConversationSummary } from '../../client/index.js';
import { useBrowserOnline } from '../lib/connection.js';
import { devicesOf } from '../lib/e2ee.js';
import { encryptedPreviewText, knownPreview, notePreview, usePreviewChanges } from '../lib/encrypted-previews.js';
import { applyChatEvents, applyInboxEvents, previewText, reconcileList } from '../lib/inbox.js';
import { onChatEvent } from '../lib/open-chat.js';
import { readCachedChat } from '../lib/message-cache.js';
import { rememberSummaries, saveList, savedList } from '../lib/known.js';
import { notePresence, PRESENCE_REFRESH_MS, presenceText, usePresence } from '../lib/presence.js';
import { client } from '../lib/session.js';
import { rememberUser, useUserName } from '../lib/users.js';
import { ErrorNote, HandleForm } from './Form.js';
import { GroupDialog } from './GroupDialog.js';
import { LockIcon } from './KeyNotice.js';
import { errorText } from '../lib/errors.js';

/**
 * The safety net: what the stream does not carry still shows within this long. That is
 * reads on your other devices (unread counts going down), and, over SSE and long polling,
 * activity in conversations too large to fan out on write (their hints are socket-only).
 */
const LIST_SAFETY_REFRESH_MS = 60_000;

/** How many reads in a row may be made to confirm conversations only the stream has shown. */
const LIST_CONFIRMATIONS = 2;

type Summary = ConversationSummary;

export function ConversationList(props: { openId: string | null; onOpen: (id: string) => void; version: number }) {
  // The list last shown, until the service answers (offline: for as long as it is away).
  const [items, setShown] = useState<Summary[] | null>(() => savedList(client.user?.id ?? ''));
  const [error, setError] = useState<string | null>(null);
  /** The list could not be read for want of a network: a quiet note, not an error. */
  const [stale, setStale] = useState(false);
  const [creating, setCreating] = useState(false);
  const itemsRef = useRef<Summary[] | null>(null);
  itemsRef.current = items;
  /**
   * Open chats whose events the list stopped folding, at the seq of the first it could not
   * fold alone (`applyChatEvents`): held until the stream or a read has brought the list there.
   */
  const held = useRef(new Map<string, number>());
  /** The ref follows at once: a fold or an answer arriving before the next render builds on it. */
  const setItems = (list: Summary[]) => {
    itemsRef.current = list;
    for (const [id, seq] of held.current) if ((list.find((c) => c.id === id)?.lastSeq ?? 0) >= seq) held.current.delete(id);
    setShown(list);
  };
  if (items) rememberSummaries(items);
  useEffect(() => {
    if (items && client.user) saveList(client.user.id, items);
  }, [items]);
  const openRef = useRef(props.openId);
  openRef.current = props.openId;
  const online = useBrowserOnline();
  // Bumped when the stream (re)connects, so presence is asked again at once.
  const [resyncs, setResyncs] = useState(0);

  const reads = useRef({ started: 0, folds: 0 });
  /**
   * Reads the list. An answer is dropped when a newer read has started, and merged with
   * what events folded in while it was on its way (it may predate them: see reconcileList).
   */
  const load = async (confirmations = LIST_CONFIRMATIONS) => {
    const read = ++reads.current.started;
    const folds = reads.current.folds;
    try {
      const answer = await client.conversations();
      if (read !== reads.current.started) return;
      const merged = reconcileList(answer, itemsRef.current, reads.current.folds !== folds);
      setItems(merged.list);
      if (merged.confirm && confirmations > 0) void load(confirmations - 1);
      setError(null);
      setStale(false);
    } catch (err) {
      if (read !== reads.current.started) return;
      if (err instanceof ChatError && err.code === 'network') setStale(true);
      else setError('Could not load conversations.');
    }
  };

  useEffect(() => {
    void load();
  }, [props.version, props.openId]);

  // Back online: what was missed while away (the stream may not have dropped to say so).
  useEffect(() => {
    if (online && stale) void load();
  }, [online]);

  useEffect(() => {
    const timer = setInterval(() => void load(), LIST_SAFETY_REFRESH_MS);
    const off = client.on('inbox', (update) => {
      const current = itemsRef.current;
      if (update.type === 'resync') setResyncs((n) => n + 1);
      if (update.type !== 'events' || !current) return void load();
      const fold = applyInboxEvents(current, update.events, client.user?.id ?? '', openRef.current);
      reads.current.folds++;
      setItems(fold.list);
      if (fold.stale) void load();
    });
    const offChat = onChatEvent((conversationId, event) => {
      const current = itemsRef.current;
      if (!current || held.current.has(conversationId)) return;
      const fold = applyChatEvents(current, conversationId, [event], client.user?.id ?? '');
      if (fold.stoppedAt !== null) held.current.set(conversationId, fold.stoppedAt);
      reads.current.folds++;
      setItems(fold.list);
    });
    return () => {
      clearInterval(timer);
      off();
      offChat();
    };
  }, []);

  // After a reload, encrypted conversations' previews come from the messages this device kept.
  const hydrated = useRef(new Set<string>());
  useEffect(() => {
    const me = client.user?.id;
    if (!me) return;
    for (const item of items ?? []) {
      if (!item.encrypted || hydrated.current.has(item.id) || knownPreview(item.id)) continue;
      hydrated.current.add(item.id);
      void readCachedChat(me, item.id).then((chat) => {
        if (chat) notePreview(item.id, chat.messages, chat.upTo ?? chat.messages.at(-1)?.seq ?? 0);
      });
    }
  }, [items]);

  const peers = [...new Set((items ?? []).flatMap((c) => (c.peerId ? [c.peerId] : [])))].sort().join(',');
  useEffect(() => {
    if (!peers) return;
    const refresh = () => void client.presence(peers.split(',')).then(notePresence, () => undefined);
    refresh();
    const timer = setInterval(refresh, PRESENCE_REFRESH_MS);
    return () => clearInterval(timer);
  }, [peers, resyncs]);

  const startDirect = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const handle = String(data.get('handle') ?? '').trim().replace(/^@/, '').toLowerCase();
    const encrypted = data.get('encrypted') === 'on';
    if (!handle) return;
    setError(null);
    try {
      const user = await client.userByHandle(handle);
      rememberUser(user);
      // Nothing sent now could ever be read by someone with no keys: say so rather than start a chat they cannot read.
      if (encrypted && (await devicesOf(user.id)).devices.length === 0) {
        setError(`${user.displayName} has no device set up for end-to-end encryption yet: they can read encrypted chats once they sign in again.`);
        return;
      }
      const conversation = await client.createDirect(user.id, { encrypted });
      form.reset();
      await load();
      props.onOpen(conversation.id);
    } catch (err) {
      setError(err instanceof ChatError && err.code === 'user_not_found' ? `Nobody has the handle @${handle}.` : errorText(err));
    }
  };

  return (
    <div class="list-pane">
      <HandleForm class="start-chat" formLabel="Start a direct chat" id="start-handle" label="Handle to chat with" placeholder="@handle" submit="Chat" onSubmit={startDirect}>
        <button type="button" onClick={() => setCreating(true)}>
          New group
        </button>
        <label class="check">
          <input type="checkbox" name="encrypted" />
          End-to-end encrypted
        </label>
      </HandleForm>
      <ErrorNote error={error} />
      {stale && (
        <p class="muted pad" role="status">
          Offline: showing the last list.
        </p>
      )}
      {items === null ? (
        <p class="muted pad">Loading…</p>
      ) : items.length === 0 ? (
        <p class="muted pad">No conversations yet.</p>
      ) : (
        <ul class="conversations">
          {items.map((c) => (
            <ConversationRow key={c.id} item={c} active={c.id === props.openId} showPresence={online} onOpen={props.onOpen} />
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

/** `showPresence` is false while the browser is offline: the last known state would be a guess. */
function ConversationRow(props: { item: Summary; active: boolean; showPresence: boolean; onOpen: (id: string) => void }) {
  const { item } = props;
  const peerName = useUserName(item.kind === 'direct' ? item.peerId : null);
  const presence = usePresence(item.kind === 'direct' && props.showPresence ? item.peerId : null);
  const title = item.kind === 'direct' ? peerName : (item.title ?? 'Group');
  const unread = item.unreadCount;
  usePreviewChanges();
  const preview = item.encrypted ? encryptedPreviewText(item, knownPreview(item.id)) : previewText(item);
  return (
    <li>
      <button type="button" class={`conversation ${props.active ? 'active' : ''}`} aria-current={props.active ? 'true' : undefined} onClick={() => props.onOpen(item.id)}>
        <span class="avatar" aria-hidden="true">
          {title.slice(0, 1).toUpperCase()}
          {presence && <span class={`presence-dot ${presence.online ? 'online' : 'offline'}`} data-testid="presence-dot" data-online={String(presence.online)} />}
        </span>
        <span class="conversation-text">
          <span class="conversation-title">
            {title}
            {item.encrypted && (
              <span class="lock-mark" data-testid="row-lock">
                <LockIcon size={13} />
                <span class="sr-only">, end-to-end encrypted</span>
              </span>
            )}
            {presence && <span class="sr-only">, {presenceText(presence, Date.now())}</span>}
          </span>
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
