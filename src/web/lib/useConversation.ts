/**
 * @module web/lib/useConversation
 * One open conversation as the chat view needs it, built on a ConversationHandle: the
 * newest page of history, then live events folded by the SDK's timeline; sends shown at
 * once (from the `queued` event) until their own message arrives; receipt watermarks
 * (fetched on every (re)connect, then live over WebSocket, polled every RECEIPTS_POLL_MS
 * over SSE and long polling, which carry no live frames); who is typing; members'
 * presence (into `lib/presence.ts`); older pages on demand.
 */
import { useEffect, useReducer, useRef } from 'preact/hooks';
import type { ConnectionStatus, ConversationHandle, ConversationInfo, MessageContent, MessageEvent, Watermark } from '../../client/index.js';
import { ChatError } from '../../client/index.js';
import { applyEvents, type Timeline } from '../../client/timeline.js';
import { notePresence } from './presence.js';
import { mergeWatermarks, type Watermarks } from './receipts.js';
import { client } from './session.js';

/** Messages per history page when scrolling back. */
export const PAGE_SIZE = 30;
/** How often receipts are read over HTTP while the conversation has no socket. */
export const RECEIPTS_POLL_MS = 3_000;

export interface LocalSend {
  cmid: string;
  content: MessageContent;
  state: 'sending' | 'acked' | 'failed';
  error?: string;
}

export interface ConversationState {
  info: ConversationInfo | null;
  handle: ConversationHandle | null;
  timeline: Timeline;
  sending: Map<string, LocalSend>;
  watermarks: Watermarks;
  typing: Map<string, ReturnType<typeof setTimeout>>;
  status: ConnectionStatus;
  hasMore: boolean;
  loadingOlder: boolean;
  error: string | null;
}

function fresh(): ConversationState {
  return { info: null, handle: null, timeline: new Map(), sending: new Map(), watermarks: new Map(), typing: new Map(), status: 'connecting', hasMore: false, loadingOlder: false, error: null };
}

function describe(error: unknown): string {
  return error instanceof ChatError || error instanceof Error ? error.message : String(error);
}

export function useConversation(id: string, onOthersMessage: (m: MessageEvent) => void) {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const state = useRef<ConversationState>(fresh());
  const notify = useRef(onOthersMessage);
  notify.current = onOthersMessage;

  useEffect(() => {
    const s = fresh();
    state.current = s;
    rerender(0);
    let cancelled = false;
    const me = client.user?.id;

    const refreshInfo = async () => {
      try {
        s.info = await client.conversation(id);
        rerender(0);
      } catch (error) {
        s.error = describe(error);
        rerender(0);
      }
    };
    const refreshReceipts = async (handle: ConversationHandle) => {
      try {
        s.watermarks = mergeWatermarks(s.watermarks, await handle.receipts());
        rerender(0);
      } catch {
        // Offline again: the next reconnect asks again.
      }
    };

    const receiptsPoll = setInterval(() => {
      if (s.handle && s.status === 'open' && s.handle.transport !== 'websocket') void refreshReceipts(s.handle);
    }, RECEIPTS_POLL_MS);

    void (async () => {
      const info = await client.conversation(id);
      if (cancelled) return;
      s.info = info;
      const handle = await client.open(id, { after: info.lastSeq });
      if (cancelled) {
        handle.close();
        return;
      }
      s.handle = handle;
      s.status = handle.status;
      for (const p of handle.pending()) s.sending.set(p.cmid, { ...p, state: 'sending' });
      handle.on('queued', ({ cmid, content }) => {
        s.sending.set(cmid, { cmid, content, state: 'sending' });
        rerender(0);
      });
      handle.on('ack', (ack) => {
        const local = s.sending.get(ack.cmid);
        if (local) local.state = 'acked';
        rerender(0);
      });
      handle.on('failed', ({ cmid, error }) => {
        const local = s.sending.get(cmid);
        if (local) Object.assign(local, { state: 'failed', error: error.message });
        rerender(0);
      });
      handle.on('event', (event) => {
        applyEvents(s.timeline, [event]);
        if (event.type === 'message') {
          if (event.author.userId === me) s.sending.delete(event.cmid);
          else notify.current(event);
        }
        if (event.type === 'member_added' || event.type === 'member_removed' || event.type === 'role_changed') void refreshInfo();
        rerender(0);
      });
      handle.on('status', (status) => {
        s.status = status;
        if (status === 'open') void refreshReceipts(handle);
        rerender(0);
      });
      handle.on('receipts', (watermarks: Watermark[]) => {
        s.watermarks = mergeWatermarks(s.watermarks, watermarks);
        rerender(0);
      });
      handle.on('presence', (presence) => notePresence([presence]));
      handle.on('hidden', (seq) => {
        hideIn(s, seq);
        rerender(0);
      });
      handle.on('typing', ({ userId, state: typing, expiresInMs }) => {
        clearTimeout(s.typing.get(userId));
        s.typing.delete(userId);
        if (typing === 'start') {
          s.typing.set(
            userId,
            setTimeout(() => {
              s.typing.delete(userId);
              rerender(0);
            }, expiresInMs ?? 5_000),
          );
        }
        rerender(0);
      });
      const page = await handle.history({ before: info.lastSeq + 1, limit: PAGE_SIZE });
      if (cancelled) return;
      applyEvents(s.timeline, page.events);
      s.hasMore = page.hasMore;
      await refreshReceipts(handle);
      const newest = [...s.timeline.values()].filter((m) => m.author.userId !== me).at(-1);
      if (newest) notify.current(newest);
      rerender(0);
    })().catch((error: unknown) => {
      s.error = describe(error);
      rerender(0);
    });

    return () => {
      cancelled = true;
      clearInterval(receiptsPoll);
      s.handle?.close();
      for (const timer of s.typing.values()) clearTimeout(timer);
    };
  }, [id]);

  const loadOlder = async (): Promise<void> => {
    const s = state.current;
    if (!s.handle || s.loadingOlder || !s.hasMore) return;
    const oldest = Math.min(...s.timeline.keys());
    s.loadingOlder = true;
    rerender(0);
    try {
      const page = await s.handle.history({ before: oldest, limit: PAGE_SIZE });
      // Older events first: a newer state already shown is kept (the fold ignores stale events).
      const merged: Timeline = applyEvents(new Map(), page.events);
      for (const [seq, m] of s.timeline) merged.set(seq, m);
      s.timeline.clear();
      for (const [seq, m] of [...merged].sort(([a], [b]) => a - b)) s.timeline.set(seq, m);
      s.hasMore = page.hasMore;
    } catch (error) {
      s.error = describe(error);
    } finally {
      s.loadingOlder = false;
      rerender(0);
    }
  };

  const retry = (cmid: string) => {
    const s = state.current;
    const local = s.sending.get(cmid);
    if (!local || !s.handle) return;
    s.sending.delete(cmid);
    void s.handle.send(local.content).catch(() => undefined);
  };

  /** Hides a message this user deleted for themselves (the `hidden` frame also does, but only over WebSocket). */
  const hide = (seq: number) => {
    hideIn(state.current, seq);
    rerender(0);
  };

  const dismiss = (cmid: string) => {
    state.current.sending.delete(cmid);
    rerender(0);
  };

  return { state: state.current, loadOlder, retry, dismiss, hide };
}

function hideIn(s: ConversationState, seq: number): void {
  const m = s.timeline.get(seq);
  if (m) s.timeline.set(seq, { type: 'message', seq: m.seq, ts: m.ts, author: m.author, cmid: m.cmid, hidden: true });
}

/** Messages to show, in seq order: hidden ones left out. */
export function visibleMessages(timeline: Timeline): MessageEvent[] {
  return [...timeline.values()].filter((m) => !m.hidden).sort((a, b) => a.seq - b.seq);
}
