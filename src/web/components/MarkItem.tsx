/** What the message list shows between messages: a day separator, or the "N new messages" divider (see lib/marks.ts). */
import type { Mark } from '../lib/marks.js';

/** A day separator, or the divider before the first message unread when the chat was opened. */
export function MarkItem(props: { mark: Mark }) {
  const { mark } = props;
  if (mark.kind === 'day') {
    return (
      <li class="mark day" data-mark="day">
        <span>{mark.label}</span>
      </li>
    );
  }
  const text = `${mark.count > 99 ? '99+' : mark.count} new message${mark.count === 1 ? '' : 's'}`;
  return (
    <li class="mark unread-divider" data-mark="unread">
      <span>{text}</span>
    </li>
  );
}
