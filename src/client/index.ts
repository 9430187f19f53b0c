/**
 * @module client
 * The Edge Chat SDK, for browsers and Node 22: `import { ChatClient } from 'edge-chat/client'`.
 */

// The client and a live conversation.
export { ChatClient, TRANSPORT_ORDER, type ChatClientOptions, type ChatClientEvents, type Credentials, type InboxUpdate, type OpenOptions, type PreKeysLow } from './ChatClient.js';
export { ACK_DEADLINE_MS, ConversationHandle, type ConversationEvents, type ConnectionStatus, type HistoryResult, type QueuedSend } from './conversation.js';

// Errors: one class, with the server's stable codes.
export { REQUEST_TIMEOUT_MS, REFRESH_MARGIN_MS, HttpApi, type FetchLike } from './http.js';
export { ChatError, isRetryable, type ChatErrorCode, type ClientErrorCode, type ChatErrorDetails } from './errors.js';

// Building blocks, for custom stores, transports and tuning.
export { Outbox, MemoryOutboxStore, IndexedDbOutboxStore, newCmid, type OutboxStore, type OutboxEntry } from './outbox.js';
export { BACKOFF_DEFAULTS, nextDelay, type BackoffOptions } from './backoff.js';
export { ReconnectPolicy, STABLE_MS, OUTAGE_SHARE, NEVER_WAKE, wakeSource, type WakeSignal } from './reconnect.js';
export { ReorderBuffer, GAP_FILL_DELAY_MS, MAX_BUFFERED_EVENTS, type Gap } from './reorder.js';
export { KEEPALIVE_DEFAULTS, type KeepaliveOptions, type Transport, type TransportContext, type TransportFactory, type TransportKind, type TransportSignal, type WebSocketLike } from './transports/types.js';
export { webSocketTransport } from './transports/websocket.js';
export { InboxStream, STREAM_TIMING_DEFAULTS, type StreamSignal, type StreamStatus, type StreamTimingOptions } from './transports/inbox.js';
export { streamConversationTransport } from './transports/stream-conversation.js';
export { FALLBACK_DEFAULTS, initialFallback, afterConnected, afterFailure, upgradeDue, afterUpgradeProbe, currentKind, type FallbackOptions, type FallbackState } from './transports/fallback.js';
export { SseParser, type SseMessage } from './sse.js';
export { parseServerFrame, parseEvents, parseInboxFrame, parsePollPage, type IncomingDeviceEvent, type IncomingInboxFrame, type IncomingEvent, type IncomingFrame, type WireError } from './wire.js';
export { Emitter, type Listener } from './emitter.js';
export { SocketTap, parseLiveFrame, type LiveFrame, type TypingSignal } from './live.js';

// Wire types an app handles.
export type { Ack, ConversationEvent, ConversationInfo, ConversationSummary, DeleteScopeRequest, DeviceEvent, Member, MessageContent, MessageEvent, Presence, ReceiptDetail, Role, SearchPage, Session, User, Watermark } from '../protocol/index.js';

// End-to-end encryption: what an app needs beside ChatClient's methods (keep the state
// where it likes, show safety numbers, read a message's plain content).
export { EndToEnd, MemoryE2eeStorage, type E2eeStorage, type E2eeState, type SessionReset, type Undecryptable } from './e2ee/end-to-end.js';
export { IndexedDbE2eeStorage, IndexedDbProtocolStore, IndexedDbE2eeMemory, DEFAULT_E2EE_DATABASE_PREFIX } from './e2ee/indexeddb.js';
export { MemoryE2eeMemory, type E2eeMemory, type Distribution } from './e2ee/messenger.js';
export { RESET_INTERVAL_MS, type E2eeNotice } from './e2ee/codec.js';
export type { InnerContent } from './e2ee/payload.js';
export { InMemoryProtocolStore, type ProtocolStore } from './e2ee/store.js';
export { E2eeError, type E2eeErrorCode } from './e2ee/errors.js';
export type { SafetyNumber } from './e2ee/fingerprint.js';
