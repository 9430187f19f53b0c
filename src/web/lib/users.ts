/**
 * @module web/lib/users
 * Display names by user id, looked up once per page and shared by every component.
 */
import { useEffect, useState } from 'preact/hooks';
import type { User } from '../../client/index.js';
import { client } from './session.js';

const known = new Map<string, User>();
const pending = new Map<string, Promise<User | null>>();

export function rememberUser(user: User): void {
  known.set(user.id, user);
}

export function lookupUser(id: string): Promise<User | null> {
  const hit = known.get(id);
  if (hit) return Promise.resolve(hit);
  let p = pending.get(id);
  if (!p) {
    p = client.userById(id).then(
      (user) => {
        known.set(id, user);
        return user;
      },
      () => null,
    );
    pending.set(id, p);
    void p.finally(() => pending.delete(id));
  }
  return p;
}

/** The user's display name, or a short placeholder while it loads. */
export function useUserName(id: string | null | undefined): string {
  const [name, setName] = useState(() => (id ? (known.get(id)?.displayName ?? '…') : ''));
  useEffect(() => {
    if (!id) return;
    let live = true;
    void lookupUser(id).then((u) => live && setName(u?.displayName ?? 'Unknown user'));
    return () => {
      live = false;
    };
  }, [id]);
  return name;
}

export function nameOf(id: string): string {
  return known.get(id)?.displayName ?? 'Someone';
}
