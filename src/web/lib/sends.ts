/**
 * @module web/lib/sends
 * Sends shown before their message arrives, and when to stop showing them. Pure, so it
 * is unit tested in Node.
 */
import type { MessageContent } from '../../client/index.js';
import type { Timeline } from '../../client/timeline.js';

/** A send on screen: `sending` until acked, `failed` when refused for good; `replyToSeq`: a reply. */
export interface LocalSend {
  cmid: string;
  content: MessageContent;
  replyToSeq?: number;
  state: 'sending' | 'acked' | 'failed';
  error?: string;
}

/**
 * Drops the local copy of every send whose message the timeline has, matched by cmid:
 * after a reload, a send restored from the outbox may already be in the history page
 * (it reached the server, its ack did not reach the page), and must show once.
 */
export function reconcileSends(timeline: Timeline, sending: Map<string, LocalSend>): void {
  if (sending.size === 0) return;
  for (const m of timeline.values()) sending.delete(m.cmid);
}
