/**
 * Helpers for inbox sockets, device events and presence: short test stories, bounded waits.
 */
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { expect } from 'vitest';
import { json, ticket, upgrade, type TestSocket } from './helpers.js';
import type { DeviceEvent, InboxFrame, Session } from '../../src/protocol/index.js';

export const text = (t: string) => ({ type: 'text', text: t });

/** A second device of the same user (a new login). */
export async function secondDevice(session: Session, deviceName = 'second device'): Promise<Session> {
  return json<Session>('/v1/auth/login', { body: { handle: session.user.handle, password: 'correct horse battery', deviceName } }, 200);
}

export class Inbox {
  constructor(readonly socket: TestSocket) {}

  get frames(): InboxFrame[] {
    return this.socket.frames as unknown as InboxFrame[];
  }

  /** Every device event received, in arrival order. */
  events(): DeviceEvent[] {
    return this.frames.flatMap((f) => (f.type === 'deliver' ? f.events : []));
  }

  /** The message seqs received for one conversation, in arrival order. */
  seqs(conversationId: string): number[] {
    return this.events().flatMap((e) => (e.kind === 'event' && e.conversationId === conversationId ? [e.event.seq] : []));
  }

  async until<T>(predicate: () => T | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
    return this.socket.until(() => predicate(), what, timeoutMs);
  }

  ack(cursor: number): void {
    this.socket.send({ type: 'ack', cursor });
  }

  lastCursor(): number {
    return this.events().at(-1)?.cursor ?? 0;
  }

  close(): void {
    this.socket.close();
  }
}

/** Opens the device's inbox socket and waits until its backlog has been sent. */
export async function openInbox(session: Session): Promise<Inbox> {
  const socket = await upgrade(`/v1/inbox/ws?ticket=${await ticket(session)}`);
  const inbox = new Inbox(socket);
  await inbox.until(() => inbox.frames.some((f) => f.type === 'caught_up'), 'caught_up');
  return inbox;
}

/** Sends `count` messages on an open chat window without waiting, then waits for every ack. */
export async function sendBurst(window: TestSocket, count: number, label = 'm'): Promise<number[]> {
  const cmids = Array.from({ length: count }, (_, i) => `${label}-${i}-${crypto.randomUUID().slice(0, 8)}`);
  for (const [i, cmid] of cmids.entries()) window.send({ type: 'send', cmid, content: text(`${label} ${i}`) });
  const acks = await window.until(
    (frames) => {
      const got = frames.flatMap((f) => (f.type === 'ack' && cmids.includes(f.cmid) ? [f.seq] : []));
      return got.length === count ? got : undefined;
    },
    `${count} acks`,
    60_000,
  );
  return acks;
}

/** Users that exist in D1 but never log in: members for large groups, without hashing passwords. */
export async function silentUsers(count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => `u_silent_${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`);
  const now = Date.now();
  const statements = ids.map((id) =>
    env.DB.prepare(
      'INSERT INTO users (id, handle, display_name, password_hash, password_salt, password_params, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).bind(id, id.slice(0, 32).toLowerCase(), 'silent', 'x', 'x', '{}', now),
  );
  for (let i = 0; i < statements.length; i += 50) await env.DB.batch(statements.slice(i, i + 50));
  return ids;
}

export function expectInOrderOnce(seqs: number[], expected: number[]): void {
  expect(seqs).toEqual(expected);
  expect(new Set(seqs).size).toBe(seqs.length);
}

export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * Rows a Durable Object's SQL read and wrote while `fn` ran (every statement, indexes
 * included), and the statements that wrote, counting on for `settleMs` after it: a measuring window for the background
 * work `fn` started, whose end nothing outside the object shows.
 */
export async function sqlCost(stub: DurableObjectStub, fn: () => Promise<unknown>, settleMs = 300): Promise<{ rowsRead: number; rowsWritten: number; writes: string[] }> {
  const cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[] = [];
  const queries: string[] = [];
  const restore = await runInDurableObject(stub, (_i, state) => {
    const sql = state.storage.sql;
    const exec = sql.exec;
    sql.exec = ((query: string, ...bindings: unknown[]) => {
      const cursor = exec.call(sql, query, ...bindings);
      cursors.push(cursor);
      queries.push(query);
      return cursor;
    }) as typeof sql.exec;
    return () => {
      sql.exec = exec;
    };
  });
  await fn();
  await new Promise((r) => setTimeout(r, settleMs));
  await runInDurableObject(stub, () => restore());
  return {
    rowsRead: cursors.reduce((sum, c) => sum + c.rowsRead, 0),
    rowsWritten: cursors.reduce((sum, c) => sum + c.rowsWritten, 0),
    writes: queries.filter((_q, i) => cursors[i]!.rowsWritten > 0),
  };
}
