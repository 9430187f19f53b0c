/**
 * What the end-to-end tests share: bounded waits, and the scenario every transport must
 * pass: two clients exchange 1,000 messages while the line is cut 10 times, some of them
 * mid-burst; nothing lost, nothing doubled, each sender's order kept, each send acked
 * once with the seq its message really got.
 */
import { expect } from 'vitest';
import type { Ack, ConversationHandle, MessageEvent } from '../../src/client/index.js';
import type { CutProxy } from './proxy.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`timed out after ${ms} ms: ${what}`)))]);
}

export function messagesOf(chat: ConversationHandle): MessageEvent[] {
  const got: MessageEvent[] = [];
  chat.on('message', (m) => got.push(m));
  return got;
}

export const textOf = (m: MessageEvent) => (m.content?.type === 'text' ? m.content.text : '');
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

export interface ExchangeOptions {
  /** How long into each round's burst the line drops. */
  cutAfterMs: (round: number) => number;
  ackTimeoutMs: number;
}

/** Runs the 1,000-message, 10-cut exchange between two open handles and checks it; returns the elapsed ms. */
export async function exchangeThroughCuts(aChat: ConversationHandle, bChat: ConversationHandle, proxy: CutProxy, options: ExchangeOptions): Promise<number> {
  const [aliceGot, bobGot] = [messagesOf(aChat), messagesOf(bChat)];
  const ackEvents = new Map<string, number>();
  for (const chat of [aChat, bChat]) chat.on('ack', (ack) => ackEvents.set(ack.cmid, (ackEvents.get(ack.cmid) ?? 0) + 1));
  const sent: { from: 'a' | 'b'; text: string; ack: Promise<Ack> }[] = [];
  const started = Date.now();
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 50; i++) {
      sent.push({ from: 'a', text: `a-${round}-${i}`, ack: aChat.send(`a-${round}-${i}`) });
      sent.push({ from: 'b', text: `b-${round}-${i}`, ack: bChat.send(`b-${round}-${i}`) });
    }
    // Mid-burst: part of this round is on the wire, part still queued, when the line drops.
    await sleep(options.cutAfterMs(round));
    proxy.cut(round % 2 === 0 ? 150 : 0);
    await sleep(60);
  }
  const acks = await within(Promise.all(sent.map((s) => s.ack)), options.ackTimeoutMs, '1,000 acks');
  await until(() => aliceGot.length >= 1_000 && bobGot.length >= 1_000, 60_000, 'both to receive 1,000 messages');
  await sleep(300); // anything extra (a duplicate) would arrive now
  const elapsed = Date.now() - started;

  expect(acks.map((a) => a.seq).sort((x, y) => x - y)).toEqual(range(1, 1_000));
  expect(ackEvents.size).toBe(1_000);
  expect([...ackEvents.values()].every((n) => n === 1)).toBe(true);
  for (const got of [aliceGot, bobGot]) {
    expect(got.map((m) => m.seq)).toEqual(range(1, 1_000));
    expect(new Set(got.map((m) => m.cmid)).size).toBe(1_000);
    for (const who of ['a', 'b'] as const) {
      // Each sender's messages arrive in the order that sender sent them.
      expect(got.map(textOf).filter((t) => t.startsWith(`${who}-`))).toEqual(sent.filter((s) => s.from === who).map((s) => s.text));
    }
  }
  // Every ack names the seq the message really got.
  const seqByText = new Map(bobGot.map((m) => [textOf(m), m.seq]));
  sent.forEach((s, i) => expect(acks[i]!.seq).toBe(seqByText.get(s.text)));
  return elapsed;
}
