/**
 * Creating a group (title and member handles), or managing one: members and roles, adding
 * by handle, removing (owners and admins), leaving. A native <dialog>: focus stays inside
 * and Escape closes it.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ConversationInfo } from '../../client/index.js';
import { client } from '../lib/session.js';
import { rememberUser, useUserName } from '../lib/users.js';
import { ErrorNote, HandleForm } from './Form.js';
import { errorText } from '../lib/errors.js';

/** A native <dialog> shown modal at once; `onClose` when it closes (Escape, or `ref.current.close()`). */
export function useModal(onClose: () => void) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    dialog.showModal();
    const close = () => onClose();
    dialog.addEventListener('close', close);
    return () => dialog.removeEventListener('close', close);
  }, []);
  return ref;
}

function message(err: unknown): string {
  return errorText(err);
}

async function idsOfHandles(text: string): Promise<string[]> {
  const handles = text.split(/[\s,]+/).map((h) => h.replace(/^@/, '').toLowerCase()).filter(Boolean);
  const users = await Promise.all(handles.map((h) => client.userByHandle(h)));
  users.forEach(rememberUser);
  return users.map((u) => u.id);
}

export function GroupDialog(props: { onClose: () => void; onCreated: (id: string) => void }) {
  const ref = useModal(props.onClose);
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    try {
      const memberIds = await idsOfHandles(String(data.get('members') ?? ''));
      const group = await client.createGroup(String(data.get('title') ?? '').trim(), memberIds, {
        encrypted: data.get('encrypted') === 'on',
        broadcast: data.get('broadcast') === 'on',
      });
      props.onCreated(group.id);
    } catch (err) {
      setError(message(err));
    }
  };
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="group-title">
      <form onSubmit={submit}>
        <h2 id="group-title">New group</h2>
        <label>
          Name
          <input name="title" required maxLength={100} />
        </label>
        <label>
          Members
          <input name="members" placeholder="@alice, @bob" autoCapitalize="none" spellcheck={false} />
          <span class="hint">Handles, separated by commas or spaces.</span>
        </label>
        <div class="toggle-field">
          <label class="check">
            <input type="checkbox" name="encrypted" aria-describedby="group-e2ee-hint" />
            End-to-end encrypted
          </label>
          <span id="group-e2ee-hint" class="hint">
            Only members' devices can read it; it cannot be turned off later, and search is not available.
          </span>
        </div>
        <div class="toggle-field">
          <label class="check">
            <input type="checkbox" name="broadcast" aria-describedby="group-broadcast-hint" />
            Broadcast channel
          </label>
          <span id="group-broadcast-hint" class="hint">
            Only you and the admins you choose post; members read and react. It cannot be changed later.
          </span>
        </div>
        <ErrorNote error={error} />
        <div class="dialog-actions">
          <button type="button" onClick={() => ref.current?.close()}>
            Cancel
          </button>
          <button type="submit" class="primary">
            Create
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** Owner first, then admins, then members (each group in the order the service gives). */
const ROLE_ORDER: Record<string, number> = { owner: 0, admin: 1, member: 2 };

export function MembersDialog(props: { info: ConversationInfo; onClose: () => void; onLeft: () => void }) {
  const ref = useModal(props.onClose);
  const [error, setError] = useState<string | null>(null);
  const me = client.user?.id;
  const myRole = props.info.members.find((m) => m.userId === me)?.role;
  const canManage = myRole === 'owner' || myRole === 'admin';

  const add = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    try {
      for (const id of await idsOfHandles(String(new FormData(form).get('handle') ?? ''))) await client.addMember(props.info.id, id);
      form.reset();
      setError(null);
    } catch (err) {
      setError(message(err));
    }
  };
  const remove = async (userId: string) => {
    try {
      await client.removeMember(props.info.id, userId);
      if (userId === me) props.onLeft();
    } catch (err) {
      setError(message(err));
    }
  };

  return (
    <dialog ref={ref} class="dialog" aria-labelledby="members-title">
      <h2 id="members-title">{props.info.title ?? 'Group'} · members</h2>
      <ul class="members">
        {[...props.info.members].sort((a, b) => (ROLE_ORDER[a.role] ?? 3) - (ROLE_ORDER[b.role] ?? 3)).map((m) => (
          <MemberRow key={m.userId} userId={m.userId} role={m.role} removable={canManage && m.userId !== me && m.role !== 'owner'} onRemove={() => void remove(m.userId)} />
        ))}
      </ul>
      {props.info.memberCount > props.info.members.length && <p class="muted">and {props.info.memberCount - props.info.members.length} more, who joined later</p>}
      {canManage && (
        <HandleForm class="inline-form" id="add-member" label="Add member by handle" placeholder="Add @handle" submit="Add" onSubmit={add} />
      )}
      <ErrorNote error={error} />
      <div class="dialog-actions">
        <button type="button" class="danger" onClick={() => void remove(me!)}>
          Leave group
        </button>
        <button type="button" onClick={() => ref.current?.close()}>
          Close
        </button>
      </div>
    </dialog>
  );
}

function MemberRow(props: { userId: string; role: string; removable: boolean; onRemove: () => void }) {
  const name = useUserName(props.userId);
  return (
    <li>
      <span>{name}</span>
      <span class="muted">{props.role}</span>
      {props.removable && (
        <button type="button" class="ghost" onClick={props.onRemove} aria-label={`Remove ${name}`}>
          Remove
        </button>
      )}
    </li>
  );
}
