/**
 * @module web/lib/users
 * Display names by user id, looked up once per page and shared by every component.
 */
import { useEffect, useState } from 'preact/hooks';
import type { User } from '../../client/index.js';
import { client } from './session.js';

const USERS_KEY = 'edge-chat.users';
/** Most users kept for offline use (the oldest go first). */
const MAX_SAVED_USERS = 500;

/** Names seen before, kept in localStorage so the app shows them offline after a reload. */
const known = new Map<string, User>(load());
const pending = new Map<string, Promise<User | null>>();

function load(): [string, User][] {
  try {
    const saved = JSON.parse(localStorage.getItem(USERS_KEY) ?? '[]') as User[];
    return Array.isArray(saved) ? saved.map((u) => [u.id, u]) : [];
  } catch {
    return [];
  }
}

function save(): void {
  try {
    localStorage.setItem(USERS_KEY, JSON.stringify([...known.values()].slice(-MAX_SAVED_USERS)));
  } catch {
    // Storage full or unavailable: names are looked up again.
  }
}

export function rememberUser(user: User): void {
  known.delete(user.id);
  known.set(user.id, user);
  save();
}

export function lookupUser(id: string): Promise<User | null> {
  const hit = known.get(id);
  if (hit) return Promise.resolve(hit);
  let p = pending.get(id);
  if (!p) {
    p = client.userById(id).then(
      (user) => {
        rememberUser(user);
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
