/** The lock mark of encrypted chats, and the key-change notice of their timeline (lib/key-notices.ts). */
import { noticeText, type KeyNotice } from '../lib/key-notices.js';
import { useUserName } from '../lib/users.js';

/** The lock of end-to-end encrypted chats (decorative: its text is beside it). */
export function LockIcon(props: { size?: number }) {
  return (
    <svg aria-hidden="true" class="lock-icon" viewBox="0 0 24 24" width={props.size ?? 14} height={props.size ?? 14} fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round">
      <rect x="5" y="11" width="14" height="10" rx="2" />
      <path d="M8 11V7a4 4 0 0 1 8 0v4" />
    </svg>
  );
}

/** A key change in the timeline, with a way to compare the new safety number. */
export function KeyNoticeItem(props: { notice: KeyNotice; me: string; onVerify: () => void }) {
  const name = useUserName(props.notice.userId);
  return (
    <li class="mark key-change" data-mark="key-change" data-user={props.notice.userId}>
      <span>
        <LockIcon />
        {noticeText(props.notice, name, props.notice.userId === props.me)}{' '}
        <button type="button" class="ghost link" onClick={props.onVerify}>
          View safety numbers
        </button>
      </span>
    </li>
  );
}
