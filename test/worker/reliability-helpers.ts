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

/** What a member's device stream carried against what it should have, counted as the node scenarios' checker counts. */
export interface StreamCounts {
  delivered: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
}

export function countStream(seqs: readonly number[], expected: readonly number[]): StreamCounts {
  const seen = new Set<number>();
  let highest = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  for (const seq of seqs) {
    if (seen.has(seq)) {
      duplicated++;
      continue;
    }
    if (seq < highest) outOfOrder++;
    seen.add(seq);
    highest = Math.max(highest, seq);
  }
  return { delivered: seen.size, lost: expected.filter((s) => !seen.has(s)).length, duplicated, outOfOrder };
}

/** "lost 0, duplicated 0, out of order 0 (carol 120/120, ...)": the counts over several members, as a scenario prints them. */
export function describeCounts(counts: readonly (StreamCounts & { who: string })[], expected: number): string {
  const sum = (pick: (c: StreamCounts) => number) => counts.reduce((n, c) => n + pick(c), 0);
  return `lost ${sum((c) => c.lost)}, duplicated ${sum((c) => c.duplicated)}, out of order ${sum((c) => c.outOfOrder)} (${counts.map((c) => `${c.who} ${c.delivered}/${expected}`).join(', ')})`;
}

/** Each of `expected` exactly once, in order; returns the counts for the printout. */
export function expectExactlyOnceInOrder(seqs: number[], expected: number[], who: string): StreamCounts & { who: string } {
  const counts = { who, ...countStream(seqs, expected) };
  expect(counts).toEqual({ who, delivered: expected.length, lost: 0, duplicated: 0, outOfOrder: 0 });
  return counts;
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
