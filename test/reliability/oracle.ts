/**
 * @module test/reliability/oracle
 * The server's side of the story, read straight from `wrangler dev` (never through the
 * fault proxy): a conversation's whole history, paged by seq, and its head.
 */
import { HistoryPage, type ConversationEvent } from '../../src/protocol/index.js';

/** Pages of history read before giving up (bounds the loop: 100 events a page). */
const MAX_PAGES = 1_000;

async function page(url: string, token: string, conversationId: string, after: number): Promise<HistoryPage> {
  const res = await fetch(`${url}/v1/conversations/${conversationId}/events?after=${after}&limit=100`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(15_000),
  });
  const body: unknown = await res.json();
  if (!res.ok) throw new Error(`history of ${conversationId} after ${after}: ${res.status} ${JSON.stringify(body)}`);
  const parsed = HistoryPage.safeParse(body);
  if (!parsed.success) throw new Error(`history page of ${conversationId} has an unexpected shape: ${parsed.error.message}`);
  return parsed.data;
}

/** Every event of the conversation as `token`'s user sees it, ascending seq. */
export async function readHistory(url: string, token: string, conversationId: string): Promise<ConversationEvent[]> {
  const events: ConversationEvent[] = [];
  for (let pages = 0, after = 0; pages < MAX_PAGES; pages++) {
    const p = await page(url, token, conversationId, after);
    events.push(...p.events);
    if (!p.hasMore || p.events.length === 0) return events;
    after = p.events[p.events.length - 1]!.seq;
  }
  throw new Error(`history of ${conversationId} has more than ${MAX_PAGES} pages`);
}

/** The conversation's last seq now. */
export async function headOf(url: string, token: string, conversationId: string): Promise<number> {
  return (await page(url, token, conversationId, 1 << 30)).lastSeq;
}
