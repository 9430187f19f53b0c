/**
 * @module conversation/history
 * Reading the log: a page of history as one reader sees it, and the feed for clients
 * without WebSockets (SSE and long polling, served by the Worker from `Feed.read`): the
 * events after a seq at once when there are any, else once the next event is accepted or
 * the hold ends. A held read is checked against the delivery rule every time it wakes,
 * so a member removed or a device signed out while it waits gets its refusal at once.
 * Each answer also says who is typing as the reader may see it (./typing.ts); a read
 * that passes the token it last got is answered when that changes, with no events and
 * its seq where it was (typing is not in the log).
 */
import { fail, attempt, type Result } from '../errors.js';
import { type FeedPage, type HistoryPage, type HistoryQuery } from '../protocol/index.js';
import { FEED } from '../limits.js';
import { Waiters } from '../objects/waiters.js';
import * as eventLog from './log.js';
import { requireMeta } from './meta.js';
import type { DeviceStandings } from './standing.js';
import type { ConversationStore } from './store.js';
import type { Typing } from './typing.js';
import { admit, pageFor, pageJsonFor, type Reader } from './visibility.js';

/** A page of history with each message in its current state as `reader`'s device sees it (./visibility.ts). */
export function historyPage(store: ConversationStore, query: HistoryQuery, reader: Reader): HistoryPage {
  const page = eventLog.page(store.sql, query);
  return { conversationId: requireMeta(store).id, lastSeq: eventLog.lastSeq(store), events: pageFor(store, page.events, reader), hasMore: page.hasMore };
}

/** `historyPage` as JSON text, encoded without building the page (./visibility.ts `pageJsonFor`). */
export function historyPageJson(store: ConversationStore, query: HistoryQuery, reader: Reader): string {
  const { rows, hasMore } = eventLog.pageRows(store.sql, query);
  const events = pageJsonFor(store, rows, reader);
  return `{"conversationId":${JSON.stringify(requireMeta(store).id)},"lastSeq":${eventLog.lastSeq(store)},"events":${events},"hasMore":${hasMore}}`;
}

export class Feed {
  /** Held reads, by device (so a signed-out device's reads can be ended alone). */
  readonly #waiters = new Waiters<string>(FEED.maxWaiting);

  constructor(
    private readonly store: ConversationStore,
    private readonly standings: DeviceStandings,
    private readonly typing: Typing,
  ) {}

  /**
   * The events after `after` as `reader` sees them, at once when there are any, else once
   * the next event is accepted, who is typing differs from `typingSeen` (when given), or
   * `timeoutMs` (at most FEED.longPollMs) passes. `after` null asks only for what comes next.
   */
  async read(reader: Reader, after: number | null, timeoutMs: number, typingSeen?: string): Promise<Result<FeedPage>> {
    if (!this.standings.current(reader)) await this.standings.fetch(reader);
    const from = after ?? eventLog.lastSeq(this.store);
    const deadline = Date.now() + Math.min(timeoutMs, FEED.longPollMs);
    for (;;) {
      // Re-admitted after every wait: membership and standing may have changed meanwhile.
      const page = attempt(() => {
        admit(this.store, this.standings, reader);
        const history = historyPage(this.store, { after: from, limit: FEED.pageSize }, reader);
        return { ...history, typing: this.typing.viewFor(reader, Date.now()) };
      });
      // Nothing new for this reader yet: wait for the next event or typing change (or the end of the hold).
      const left = deadline - Date.now();
      if (!page.ok || page.value.events.length > 0 || left <= 0) return page;
      if (typingSeen !== undefined && page.value.typing.token !== typingSeen) return page;
      const waiting = this.#waiters.wait(reader.deviceId, left);
      if (!waiting) return fail('rate_limited', 'Too many clients are following this conversation; try again shortly.', { retryAfterMs: 1_000 });
      await waiting;
    }
  }

  /** Something changed for every reader (an event, a membership change, who is typing): held reads look again. */
  wake(): void {
    this.#waiters.wake();
  }

  /** A device was signed out: its held reads answer now. */
  wakeDevice(deviceId: string): void {
    this.#waiters.wake(deviceId);
  }
}
