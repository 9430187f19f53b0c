/**
 * The app shell: the sign-in screen, or the conversation list beside the open chat. On a
 * narrow screen only one of the two shows (the chat has a back button). The open
 * conversation is kept in the URL hash (`#c=<id>`), so a notification click can open it.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Session } from '../../client/index.js';
import { encryptionReady, signOutWithKeys, useEncryptionStatus } from '../lib/e2ee.js';
import { forgetPreviews } from '../lib/encrypted-previews.js';
import { forgetList } from '../lib/known.js';
import { forgetCachedChats } from '../lib/message-cache.js';
import { forgetEdits } from '../lib/pending-edits.js';
import { client } from '../lib/session.js';
import { AuthScreen } from './AuthScreen.js';
import { ChatView } from './ChatView.js';
import { ConversationList } from './ConversationList.js';
import { PushToggle } from './PushToggle.js';

function hashConversation(): string | null {
  const match = /^#c=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]!) : null;
}

export function App() {
  const [session, setSession] = useState<Session | null>(client.session);
  const [openId, setOpenId] = useState<string | null>(hashConversation);
  const [listVersion, setListVersion] = useState(0);
  const encryption = useEncryptionStatus();

  useEffect(() => client.on('session', setSession), []);
  // The device stream runs whenever signed in, not only with a chat open: it is what
  // acknowledges messages as delivered, keeps the list live and shows this user online.
  useEffect(() => {
    if (session) client.connect();
  }, [session]);
  // End-to-end encryption for this device, after sign-in and after every reload (encrypted chats wait for it).
  const deviceId = session?.deviceId;
  useEffect(() => {
    if (deviceId) void encryptionReady().catch(() => undefined);
  }, [deviceId]);
  useEffect(() => {
    const onHash = () => setOpenId(hashConversation());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const open = (id: string | null) => {
    if (id) location.hash = `c=${encodeURIComponent(id)}`;
    else history.pushState(null, '', location.pathname + location.search);
    setOpenId(id);
  };

  if (!session) return <AuthScreen />;

  return (
    // data-e2ee: whether this device's encryption is on (for tests and styles).
    <div class={`shell ${openId ? 'has-chat' : 'no-chat'}`} data-e2ee={encryption.state}>
      <aside class="sidebar" aria-label="Conversations">
        <header class="topbar">
          <div class="me">
            <span class="avatar" aria-hidden="true">
              {session.user.displayName.slice(0, 1).toUpperCase()}
            </span>
            <span class="me-name" title={`${session.user.displayName} @${session.user.handle}`}>
              <strong>{session.user.displayName}</strong>
              <span class="muted"> @{session.user.handle}</span>
            </span>
          </div>
          <div class="topbar-actions">
            <PushToggle />
            <button
              type="button"
              class="ghost"
              onClick={() => {
                forgetList(session.user.id);
                void forgetCachedChats(session.user.id);
                forgetEdits(session.user.id);
                forgetPreviews();
                // The device's keys, sessions and decrypted messages go too.
                void signOutWithKeys().catch(() => undefined);
              }}
            >
              Sign out
            </button>
          </div>
        </header>
        <ConversationList openId={openId} onOpen={open} version={listVersion} />
      </aside>
      <main class="main" aria-label="Chat">
        {openId ? (
          <ChatView key={openId} id={openId} onBack={() => open(null)} onChanged={() => setListVersion((v) => v + 1)} />
        ) : (
          <div class="empty-main">
            <p>Pick a conversation, or start one by handle.</p>
          </div>
        )}
      </main>
    </div>
  );
}
