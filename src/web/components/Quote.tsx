/** The quoted message a reply answers: shown on a message in the list and on a reply still waiting to go. */
import { nameOf } from '../lib/users.js';

/**
 * `userId`: who wrote the quoted message, when known ("Reply" otherwise); `text`: what it
 * said, when known ("Message unavailable" otherwise).
 */
export function Quote(props: { userId?: string | undefined; text?: string | null | undefined }) {
  return (
    <blockquote class="quote">
      <span class="author">{props.userId ? nameOf(props.userId) : 'Reply'}</span>
      {props.text ?? <em>Message unavailable</em>}
    </blockquote>
  );
}
