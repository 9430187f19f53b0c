/** Who has your message and who read it, and when. */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ConversationHandle, ReceiptDetail } from '../../client/index.js';
import { useUserName } from '../lib/users.js';

export function ReceiptDialog(props: { handle: ConversationHandle; seq: number; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [detail, setDetail] = useState<ReceiptDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    ref.current?.showModal();
    const dialog = ref.current;
    const close = () => props.onClose();
    dialog?.addEventListener('close', close);
    void props.handle.receiptDetail(props.seq).then(setDetail, (e: unknown) => setError(e instanceof Error ? e.message : String(e)));
    return () => dialog?.removeEventListener('close', close);
  }, []);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="receipt-title">
      <h2 id="receipt-title">Message info</h2>
      {error && <p class="error">{error}</p>}
      {detail && (
        <>
          <p>
            Read by {detail.read} of {detail.recipients} · delivered to {detail.delivered}
          </p>
          <ul class="members">
            {detail.members.map((m) => (
              <ReceiptRow key={m.userId} userId={m.userId} deliveredAt={m.deliveredAt} readAt={m.readAt} />
            ))}
          </ul>
        </>
      )}
      <form method="dialog" class="dialog-actions">
        <button type="submit">Close</button>
      </form>
    </dialog>
  );
}

function ReceiptRow(props: { userId: string; deliveredAt: number | null; readAt: number | null }) {
  const name = useUserName(props.userId);
  const at = (ts: number) => new Date(ts).toLocaleString([], { hour: '2-digit', minute: '2-digit', day: 'numeric', month: 'short' });
  return (
    <li>
      <span>{name}</span>
      <span class="muted">{props.readAt ? `Read ${at(props.readAt)}` : props.deliveredAt ? `Delivered ${at(props.deliveredAt)}` : 'Not yet'}</span>
    </li>
  );
}
