/**
 * What the workerd reliability tests share (test/worker/reliability-*.test.ts): sends
 * retried with one cmid until answered, a member's device stream read to the end with
 * bounded waits (running the conversation's alarm when it stalls), and exactly-once
 * checks against the history.
 */
import { env } from 'cloudflare:workers';
import { evictDurableObject, runDurableObjectAlarm } from 'cloudflare:test';
import { expect } from 'vitest';
import { call, json } from './helpers.js';
import { text } from './inbox-helpers.js';
import type { Session } from '../../src/protocol/index.js';

export interface Answer {
  status: number;
  seq?: number;
  duplicate?: boolean;
}

/** POSTs one message with `cmid` until the server answers 2xx (an eviction may fail a call in flight); every answer. */
export async function sendUntilStored(session: Session, conversationId: string, cmid: string, body: string, attempts = 10): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await call(`/v1/conversations/${conversationId}/messages`, { token: session.accessToken, body: { cmid, content: text(body) } });
      const parsed = (await res.json().catch(() => ({}))) as { seq?: number; duplicate?: boolean };
      answers.push({ status: res.status, seq: parsed.seq, duplicate: parsed.duplicate });
      if (res.ok) return answers;
    } catch {
      answers.push({ status: 0 });
    }
    await new Promise((r) => setTimeout(r, 50 * attempt));
  }
  throw new Error(`${cmid} not stored after ${attempts} attempts: ${JSON.stringify(answers)}`);
}

/** Every event of the conversation, paged from the history. */
export async function history(session: Session, conversationId: string): Promise<{ seq: number; type: string; cmid?: string }[]> {
  const events: { seq: number; type: string; cmid?: string }[] = [];
  for (let after = 0, pages = 0; pages < 100; pages++) {
    const page = await json(`/v1/conversations/${conversationId}/events?after=${after}&limit=100`, { token: session.accessToken }, 200);
    events.push(...page.events);
    if (!page.hasMore || page.events.length === 0) return events;
    after = page.events.at(-1).seq;
  }
  throw new Error('history longer than 100 pages');
}

/**
 * Reads a member's device stream from the start (acknowledging as it goes) until it
 * holds `count` events of the conversation or `timeoutMs` passes; runs the
 * conversation's alarm whenever a read brings nothing, as the runtime would in time.
 * Returns the seqs in the order the stream gave them.
 */
export async function readStream(member: Session, conversationId: string, count: number, timeoutMs = 30_000): Promise<number[]> {
  const user = env.USERS.getByName(member.user.id);
  const conversation = env.CONVERSATIONS.getByName(conversationId);
  const seqs: number[] = [];
  let cursor = 0;
  const deadline = Date.now() + timeoutMs;
  while (seqs.length < count && Date.now() < deadline) {
    const read = await user.readEvents(member.deviceId, cursor, 200);
    if (!read.ok) throw new Error(`readEvents: ${read.error.code}`);
    const page = read.value;
    for (const e of page.events) if (e.kind === 'event' && e.conversationId === conversationId) seqs.push(e.event.seq);
    const last = page.events.at(-1);
    if (last) {
      cursor = last.cursor;
      await user.ackEvents(member.deviceId, cursor);
      continue;
    }
    await runDurableObjectAlarm(conversation).catch(() => false);
    await new Promise((r) => setTimeout(r, 100));
  }
  return seqs;
}

/** Each of `expected` exactly once, in order. */
export function expectExactlyOnceInOrder(seqs: number[], expected: number[], who: string): void {
  const twice = seqs.filter((s, i) => seqs.indexOf(s) !== i);
  const missing = expected.filter((s) => !seqs.includes(s));
  expect({ who, twice, missing, inOrder: seqs.every((s, i) => i === 0 || s > seqs[i - 1]!) }).toEqual({ who, twice: [], missing: [], inOrder: true });
}

/** Evicts the object if it is running (an idle one has nothing to evict); true if it was. */
export async function evict(stub: DurableObjectStub): Promise<boolean> {
  try {
    await evictDurableObject(stub);
    return true;
  } catch (error) {
    if (String(error).includes('not currently running')) return false;
    throw error;
  }
}

export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
