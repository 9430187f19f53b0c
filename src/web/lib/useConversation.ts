/**
 * @module web/lib/useConversation
 * One open conversation as the chat view needs it, built on a ConversationHandle opened
 * at once (`after: 'latest'`: no request first, so a chat opened offline can still queue
 * sends): the title from the list's summary until the details arrive; when the wire first
 * connects, the newest page of history below the live events; sends shown at once (from
 * the `queued` event) until their own message is in the timeline, matched by cmid (so a
 * send restored after a reload whose message history already shows appears once);
 * receipt watermarks (fetched on every (re)connect, then live over WebSocket, polled
 * every RECEIPTS_POLL_MS over SSE and long polling, which carry no live frames); who is
 * typing; members' presence (into `lib/presence.ts`); older pages on demand. Until the
 * first page arrives, the messages this device kept (`lib/message-cache.ts`); your edits
 * not yet taken, shown in place and handed over once connected (`lib/pending-edits.ts`).
 *
 * About 470 lines (with the encryption notices and gate): one effect wires a handle's events into one state object, and splitting
 * it would pass that state and its rerender around.
 *
 * What fails for want of a network (details, history, receipts) is tried again on every
 * reconnect, when the browser says it is online, and every few seconds meanwhile: it is
 * never shown as an error, since the connection badge already says the app is offline.
 */
import { useEffect, useReducer, useRef } from 'preact/hooks';
import type { ConnectionStatus, ConversationEvent, ConversationHandle, ConversationInfo, ConversationSummary, MessageEvent, Watermark } from '../../client/index.js';
import { ChatError } from '../../client/index.js';
import { applyEvents, type Timeline } from '../../client/timeline.js';
import { encryptionReady, encryptionStatus } from './e2ee.js';
import { notePreview } from './encrypted-previews.js';
import { publishChatEvent } from './open-chat.js';
import { noticeOf, type KeyNotice } from './key-notices.js';
import { knownSummary } from './known.js';
import { cacheChat, readCachedChat } from './message-cache.js';
import { dropEdit, keepEdit, pendingEdits } from './pending-edits.js';
import { reconcileSends, type LocalSend } from './sends.js';
import { notePresence, presenceFresh } from './presence.js';
import { mergeWatermarks, type Watermarks } from './receipts.js';
import { client } from './session.js';
import { errorText } from './errors.js';

/** Messages per history page when scrolling back. */
export const PAGE_SIZE = 30;
/** How often receipts are read over HTTP while the conversation has no socket. */
export const RECEIPTS_POLL_MS = 3_000;
/**
 * How often members' presence is asked while the conversation has no socket (the
 * fallback wires carry no presence frames). A new account may ask 20 times a minute
 * (TIER_LIMITS.new.presenceQueries); this and the list's PRESENCE_REFRESH_MS stay under it.
 */
export const PRESENCE_POLL_MS = 5_000;
/** Waits before reading what failed to load again, while the wire is up (the last one repeats). */
export const CATCH_UP_RETRY_MS = [1_000, 2_000, 5_000];

export type { LocalSend };


export interface ConversationState {
  info: ConversationInfo | null;
  /** The list's summary of this conversation, if the list knew it: shown until `info` arrives. */
  summary: ConversationSummary | null;
  handle: ConversationHandle | null;
  timeline: Timeline;
  sending: Map<string, LocalSend>;
  watermarks: Watermarks;
  typing: Map<string, ReturnType<typeof setTimeout>>;
  status: ConnectionStatus;
  /** The newest page of history is in (false until the wire first connects and it is read). */
  loaded: boolean;
  /** Until then, the timeline may show the messages this device kept (./message-cache.ts): their seqs. */
  cached: Set<number>;
  /** Your edits not yet taken by the service, by seq: shown in place of the text (./pending-edits.ts). */
  edits: Map<number, string>;
  hasMore: boolean;
  loadingOlder: boolean;
  /** An error worth showing: not a network failure (the badge says offline), which is retried. */
  error: string | null;
  /** End-to-end encrypted chats: key changes to show in the timeline, by seq (./key-notices.ts). */
  notices: Map<number, KeyNotice>;
  /** Waiting for this device's encryption to be on before the chat can open (encrypted chats). */
  awaitingKeys: boolean;
}

function fresh(id: string): ConversationState {
  return {
    info: null,
    summary: knownSummary(id),
    handle: null,
    timeline: new Map(),
    sending: new Map(),
    watermarks: new Map(),
    typing: new Map(),
    status: 'connecting',
    loaded: false,
    cached: new Set(),
    edits: new Map(),
    hasMore: false,
    loadingOlder: false,
    error: null,
    notices: new Map(),
    awaitingKeys: false,
  };
}

function describe(error: unknown): string {
  return errorText(error);
}

/** A failure the next reconnect can fix: say nothing, try again. */
function isPassing(error: unknown): boolean {
  return error instanceof ChatError && (error.code === 'network' || error.code === 'rate_limited' || error.code === 'internal' || (error.status ?? 0) >= 500);
}

/**
 * One pass over the waiting edits at a time, for the whole page: a chat view mounted again
 * (a reload's session restore, say) must not send an edit the previous one is sending.
 */
let editsPass: Promise<void> = Promise.resolve();

/** Notes the key-change notices among `events`. */
function noteNotices(s: ConversationState, events: readonly ConversationEvent[]): void {
  for (const event of events) {
    const notice = noticeOf(event);
    if (notice) s.notices.set(notice.seq, notice);
  }
}

/** Whether the chat is end-to-end encrypted, as far as this app knows (null: not known yet). */
function isEncrypted(s: ConversationState): boolean | null {
  return s.info?.encrypted ?? s.summary?.encrypted ?? null;
}

/** Puts an older page under what the timeline holds (a newer state already shown is kept). */
function mergeUnder(timeline: Timeline, events: ConversationEvent[]): void {
  const merged: Timeline = applyEvents(new Map(), events);
  for (const [seq, m] of timeline) merged.set(seq, m);
  timeline.clear();
  for (const [seq, m] of [...merged].sort(([a], [b]) => a - b)) timeline.set(seq, m);
}

export function useConversation(id: string, onOthersMessage: (m: MessageEvent) => void) {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const state = useRef<ConversationState>(fresh(id));
  const notify = useRef(onOthersMessage);
  notify.current = onOthersMessage;
  /** Hands waiting edits to the service if the wire is up. */
  const flushing = useRef<() => Promise<void>>(() => Promise.resolve());

  useEffect(() => {
    const s = fresh(id);
    state.current = s;
    rerender(0);
    let cancelled = false;
    const me = client.user?.id;
    /** The conversation's head when the wire first connected: history is read below it. */
    let head: number | null = null;
    /** Live events that came before the newest page of history: applied again on top of it. */
    const early: ConversationEvent[] = [];
    let catching = false;
    let retries = 0;
    let retryTimer: ReturnType<typeof setTimeout> | null = null;

    const refreshReceipts = async (handle: ConversationHandle) => {
      try {
        s.watermarks = mergeWatermarks(s.watermarks, await handle.receipts());
        rerender(0);
      } catch {
        // Offline again: the next reconnect asks again.
      }
    };

    /** Reads what is not loaded yet (details, the newest page, receipts); idempotent. */
    const catchUp = async (): Promise<void> => {
      const handle = s.handle;
      if (cancelled || catching || !handle || s.status !== 'open' || head === null) return;
      catching = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      try {
        if (!s.info) s.info = await client.conversation(id);
        if (!s.loaded) {
          const page = await handle.history({ before: head + 1, limit: PAGE_SIZE });
          if (cancelled) return;
          // What was kept on the device gives way to the service's page whole (edits and deletes made meanwhile).
          for (const seq of s.cached) s.timeline.delete(seq);
          s.cached.clear();
          mergeUnder(s.timeline, page.events);
          noteNotices(s, page.events);
          applyEvents(s.timeline, early.splice(0));
          s.hasMore = page.hasMore;
          s.loaded = true;
          reconcileSends(s.timeline, s.sending);
          keep();
          const newest = [...s.timeline.values()].filter((m) => m.author.userId !== me).at(-1);
          if (newest) notify.current(newest);
        }
        s.error = null;
        retries = 0;
        await flushEdits(handle);
        await refreshReceipts(handle);
      } catch (error) {
        if (cancelled) return;
        if (isPassing(error)) {
          retryTimer = setTimeout(() => void catchUp(), CATCH_UP_RETRY_MS[Math.min(retries++, CATCH_UP_RETRY_MS.length - 1)]);
        } else {
          s.error = describe(error);
        }
      } finally {
        catching = false;
        if (!cancelled) rerender(0);
      }
    };
    /**
     * Hands the waiting edits to the service, in the order made, skipping one the service's
     * text shows taken already (edits are not idempotent). One that fails for want of a
     * network waits for the next reconnect; one refused (the edit window passed, say) is
     * dropped and said.
     */
    const sendEdits = async (handle: ConversationHandle) => {
      for (const edit of me ? pendingEdits(me, id) : []) {
        if (cancelled) return;
        try {
          // Taken already (its answer was lost to a reload or the network): the service's text says so.
          if (!alreadyEdited(s, edit.seq, edit.text)) await handle.edit(edit.seq, edit.text);
        } catch (error) {
          if (isPassing(error)) throw error;
          s.error = `Your edit could not be saved: ${describe(error)}`;
        }
        dropEdit(me!, edit);
        if (s.edits.get(edit.seq) === edit.text) s.edits.delete(edit.seq);
      }
    };
    const flushEdits = (handle: ConversationHandle) => (editsPass = editsPass.catch(() => undefined).then(() => sendEdits(handle)));
    flushing.current = () => (s.handle && s.status === 'open' ? flushEdits(s.handle).catch(() => undefined) : Promise.resolve());
    for (const edit of me ? pendingEdits(me, id) : []) s.edits.set(edit.seq, edit.text);

    /** Keeps the newest messages on the device, once they are the service's. */
    const keep = () => {
      if (!s.loaded || !me) return;
      const messages = [...s.timeline.values()].sort((a, b) => a.seq - b.seq);
      const upTo = Math.max(s.handle?.lastSeq ?? 0, messages.at(-1)?.seq ?? 0);
      cacheChat(me, id, messages, s.hasMore, upTo);
      // The list cannot get this from the service: it shows what this device decrypted.
      if (isEncrypted(s)) notePreview(id, messages, upTo);
    };
    // Shown until the first page arrives: offline, that may be a while.
    if (me) {
      void readCachedChat(me, id).then((chat) => {
        if (cancelled || !chat || s.loaded) return;
        for (const m of chat.messages) {
          if (s.timeline.has(m.seq)) continue;
          s.timeline.set(m.seq, m);
          s.cached.add(m.seq);
        }
        s.hasMore = chat.hasMore;
        reconcileSends(s.timeline, s.sending);
        rerender(0);
      });
    }
    const onOnline = () => void catchUp();
    window.addEventListener('online', onOnline);

    const refreshInfo = async () => {
      try {
        s.info = await client.conversation(id);
        rerender(0);
      } catch (error) {
        if (!isPassing(error)) s.error = describe(error);
        rerender(0);
      }
    };

    const receiptsPoll = setInterval(() => {
      if (s.handle && s.status === 'open' && s.handle.transport !== 'websocket') void refreshReceipts(s.handle);
    }, RECEIPTS_POLL_MS);
    /** Asks members' presence, skipping those heard within `maxAgeMs` (queries are rate limited). */
    const refreshPresence = (maxAgeMs = PRESENCE_POLL_MS - 500) => {
      const others = (s.info?.members.map((m) => m.userId) ?? (s.summary?.peerId ? [s.summary.peerId] : [])).filter(
        (userId) => userId !== me && !presenceFresh(userId, maxAgeMs),
      );
      if (others.length > 0) void client.presence(others).then(notePresence, () => undefined);
    };
    const presencePoll = setInterval(() => {
      if (s.handle && s.status === 'open' && s.handle.transport !== 'websocket') refreshPresence();
    }, PRESENCE_POLL_MS);

    // A member's key changed (the SDK saw a new identity key for one of their devices).
    const offIdentity = client.on('identityChanged', ({ userId }) => {
      if (!s.info?.members.some((m) => m.userId === userId) && s.summary?.peerId !== userId) return;
      const last = Math.max(0, ...s.timeline.keys(), ...s.notices.keys(), s.handle?.lastSeq ?? 0);
      const seq = Math.floor(last) + 0.5;
      s.notices.set(seq, { seq, userId, kind: 'identity' });
      rerender(0);
    });

    void (async () => {
      // An encrypted chat opens once this device's encryption is on: opened before, it could neither read nor send.
      let encrypted = isEncrypted(s);
      if (encrypted === null) {
        encrypted = await client.conversation(id).then(
          (info) => ((s.info = info), info.encrypted),
          () => true,
        );
      }
      if (encrypted) {
        const ready = encryptionReady();
        // Said only while it is not on yet (a reload, or offline), not for a blink on every opening.
        if (encryptionStatus().state !== 'ready') {
          s.awaitingKeys = true;
          rerender(0);
        }
        await ready;
        s.awaitingKeys = false;
        if (cancelled) return;
      }
      // Known plain: opened without the encryption codec, which would read the details before a send (offline, it could not).
      const handle = await client.open(id, { after: 'latest', encrypted });
      if (cancelled) {
        handle.close();
        return;
      }
      s.handle = handle;
      s.status = handle.status;
      for (const p of handle.pending()) s.sending.set(p.cmid, { ...p, state: 'sending' });
      handle.on('queued', (queued) => {
        s.sending.set(queued.cmid, { ...queued, state: 'sending' });
        rerender(0);
      });
      handle.on('ack', (ack) => {
        const local = s.sending.get(ack.cmid);
        if (local) local.state = 'acked';
        reconcileSends(s.timeline, s.sending);
        rerender(0);
      });
      handle.on('failed', ({ cmid, error }) => {
        const local = s.sending.get(cmid);
        if (local) Object.assign(local, { state: 'failed', error: error.message });
        rerender(0);
      });
      handle.on('event', (event) => {
        publishChatEvent(id, event);
        if (!s.loaded) early.push(event);
        applyEvents(s.timeline, [event]);
        noteNotices(s, [event]);
        if (event.type === 'message') {
          if (event.author.userId === me) s.sending.delete(event.cmid);
          else notify.current(event);
        }
        if (event.type === 'member_added' || event.type === 'member_removed' || event.type === 'role_changed') void refreshInfo();
        keep();
        rerender(0);
      });
      handle.on('status', (status) => {
        s.status = status;
        if (status === 'open') {
          head ??= handle.lastSeq;
          retries = 0;
          void catchUp();
          // Presence heard before (or missed while away) may be stale; the socket's frames only tell changes.
          refreshPresence(0);
        }
        rerender(0);
      });
      handle.on('receipts', (watermarks: Watermark[]) => {
        s.watermarks = mergeWatermarks(s.watermarks, watermarks);
        rerender(0);
      });
      handle.on('presence', (presence) => notePresence([presence]));
      handle.on('hidden', (seq) => {
        hideIn(s, seq);
        keep();
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
      // The details are worth having before the wire is up (the members, the group's title).
      void refreshInfo();
      rerender(0);
    })().catch((error: unknown) => {
      s.error = describe(error);
      rerender(0);
    });

    return () => {
      cancelled = true;
      clearInterval(receiptsPoll);
      clearInterval(presencePoll);
      if (retryTimer) clearTimeout(retryTimer);
      window.removeEventListener('online', onOnline);
      offIdentity();
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
      mergeUnder(s.timeline, page.events);
      noteNotices(s, page.events);
      s.hasMore = page.hasMore;
    } catch (error) {
      if (!isPassing(error)) s.error = describe(error);
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
    const again = local.replyToSeq === undefined ? s.handle.send(local.content) : s.handle.reply(local.replyToSeq, local.content);
    void again.catch(() => undefined);
  };

  /** Hides a message this user deleted for themselves (the `hidden` frame also does, but only over WebSocket). */
  const hide = (seq: number) => {
    hideIn(state.current, seq);
    rerender(0);
  };

  /**
   * Edits your message `seq`: shown at once, kept on the device until the service takes it
   * (offline: once back). Resolves when this attempt to hand it over is done.
   */
  const edit = async (seq: number, text: string): Promise<void> => {
    const me = client.user?.id;
    if (!me) return;
    keepEdit(me, { conversationId: id, seq, text });
    state.current.edits.set(seq, text);
    rerender(0);
    await flushing.current();
    rerender(0);
  };

  const dismiss = (cmid: string) => {
    state.current.sending.delete(cmid);
    rerender(0);
  };

  return { state: state.current, loadOlder, retry, dismiss, hide, edit };
}

/** Whether the service's version of message `seq` (once loaded) already reads `text`. */
function alreadyEdited(s: ConversationState, seq: number, text: string): boolean {
  const m = s.timeline.get(seq);
  return s.loaded && !s.cached.has(seq) && m?.content?.type === 'text' && m.content.text === text;
}

function hideIn(s: ConversationState, seq: number): void {
  const m = s.timeline.get(seq);
  if (m) s.timeline.set(seq, { type: 'message', seq: m.seq, ts: m.ts, author: m.author, cmid: m.cmid, hidden: true });
}

/** Messages to show, in seq order: hidden ones left out. */
export function visibleMessages(timeline: Timeline): MessageEvent[] {
  return [...timeline.values()].filter((m) => !m.hidden).sort((a, b) => a.seq - b.seq);
}
