/**
 * @module routes/conversation-api
 * What the conversation routes (./conversations.ts) accept and answer, as the OpenAPI
 * document describes it: the query and path schemas the handlers parse with, and each
 * route's entry (summary, inputs, responses, errors). Apart from the handlers, so that
 * file reads as what each route does.
 */
import { z } from 'zod';
import {
  Ack,
  AddMemberBody,
  ConversationInfo,
  ConversationSummary,
  HistoryPage,
  LifecycleResult,
  Member,
  MembersPage,
  MembersQuery,
  MessageVersions,
  ReceiptDetail,
  ReceiptsOverview,
  SearchPage,
  Watermark,
  ConversationId,
  ConversationSettingsBody,
  CreateConversationBody,
  DeleteMessageQuery,
  EditMessageBody,
  FeedPage,
  FeedPollQuery,
  FeedStreamQuery,
  LIMITS,
  ReactBody,
  ReadBody,
  SendMessageBody,
  Seq,
  SetRoleBody,
  TypingBody,
  UserId,
} from '../protocol/index.js';
import { doc } from '../openapi/describe.js';
import { frameRef } from '../openapi/document.js';

const intParam = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const HistoryParams = z.strictObject({
  after: intParam.optional(),
  before: intParam.optional(),
  limit: intParam.optional(),
});
export const SeqParam = z.coerce.number().pipe(Seq.min(1));
export const SearchParams = z.strictObject({
  q: z.string().min(1).max(LIMITS.maxSearchQueryLength),
  before: intParam.optional(),
  limit: z.coerce.number().int().min(1).max(LIMITS.maxSearchPageSize).optional(),
});

const Id = { id: ConversationId };
const IdSeq = { id: ConversationId, seq: SeqParam };
const NOT_MEMBER = 'conversation_not_found' as const;

/** Each route's OpenAPI entry (src/openapi/describe.ts): the schemas are those the handler reads. */
export const docs = {
  ws: doc({
    tag: 'conversations',
    auth: 'ticket',
    summary: 'Open a chat window (WebSocket)',
    description:
      'Upgrades to a chat-window socket: ChatClientFrame in, ChatServerFrame out (PROTOCOL.md, "Chat-window WebSocket frames"). A refused upgrade is accepted, sent an `error` frame naming the reason, and closed (4001 bad ticket, 4003 not a member or origin, 4004 device revoked, 1013 a large conversation\'s relays all full: try later). In a conversation of RELAY_MIN_MEMBERS or more the socket is held by a relay: the same frames, without typing, presence or receipts.',
    params: Id,
    responses: { 101: { description: 'Switching protocols: the socket is open; the first frame is `ready`.' } },
    errors: ['upgrade_required'],
    extensions: { 'x-frames': { client: frameRef('ChatClientFrame'), server: frameRef('ChatServerFrame') } },
  }),
  create: doc({
    tag: 'conversations',
    summary: 'Create a conversation',
    description:
      'A direct conversation (unique per pair and placement: creating it again returns it) or a group with its first members. Every member\'s block list goes with it. `placement`: a jurisdiction (`eu`: the object, its messages and media stay there; the id starts `eu-`) or a location hint for where the object starts. `encrypted: true`: end-to-end encrypted, for good (only `encrypted` envelopes are accepted; a group has at most 100 members; an encrypted direct conversation is a conversation of its own, beside a plain one).',
    body: CreateConversationBody,
    responses: { 201: { description: 'The conversation.', schema: z.object({ conversation: ConversationInfo }) } },
    errors: ['user_not_found', 'forbidden', 'too_many_members'],
  }),
  list: doc({
    tag: 'conversations',
    summary: 'List your conversations',
    description: 'Most recent activity first, with previews and unread counts.',
    responses: { 200: { description: 'The list.', schema: z.object({ conversations: z.array(ConversationSummary) }) } },
  }),
  info: doc({
    tag: 'conversations',
    summary: 'A conversation',
    description: 'Its kind, title, last seq and members. Non-members get `conversation_not_found`, as for a conversation that does not exist.',
    params: Id,
    responses: { 200: { description: 'The conversation.', schema: z.object({ conversation: ConversationInfo }) } },
    errors: [NOT_MEMBER],
  }),
  members: doc({
    tag: 'conversations',
    summary: 'Members',
    description: `Members with their roles and when they joined, a page at a time in join order (at most LIMITS.maxListedMembers, ${LIMITS.maxListedMembers}, the default): \`after\` is the previous page's \`next\`, which is null on the last page.`,
    params: Id,
    query: MembersQuery,
    responses: { 200: { description: 'A page of members, and how many there are.', schema: MembersPage } },
    errors: [NOT_MEMBER],
  }),
  addMember: doc({
    tag: 'conversations',
    summary: 'Add a member',
    description: 'Owners and admins add members to groups (at most 1,000). Member changes are rate-limited per user.',
    params: Id,
    body: AddMemberBody,
    responses: { 201: { description: 'The conversation after the change.', schema: z.object({ conversation: ConversationInfo }) } },
    errors: [NOT_MEMBER, 'user_not_found', 'forbidden', 'conflict', 'too_many_members', 'rate_limited'],
  }),
  setRole: doc({
    tag: 'conversations',
    summary: "Change a member's role",
    description: 'The owner makes members admins or admins members.',
    params: { id: ConversationId, userId: UserId },
    body: SetRoleBody,
    responses: { 200: { description: 'The member after the change.', schema: z.object({ member: Member }) } },
    errors: [NOT_MEMBER, 'forbidden', 'conflict', 'rate_limited'],
  }),
  removeMember: doc({
    tag: 'conversations',
    summary: 'Remove a member, or leave',
    description: 'Yourself: leave. Others: admins remove members, the owner removes admins. An owner who leaves is succeeded by the longest-standing admin, else member.',
    params: { id: ConversationId, userId: UserId },
    responses: { 204: { description: 'Removed.' } },
    errors: [NOT_MEMBER, 'forbidden', 'conflict', 'rate_limited'],
  }),
  history: doc({
    tag: 'conversations',
    summary: 'History',
    description: 'A page of events in ascending seq. `after` and `before` are exclusive bounds: `after` catches up, `before` scrolls back, both fill a gap, neither gives the newest page.',
    params: Id,
    query: HistoryParams,
    responses: { 200: { description: 'A page.', schema: HistoryPage } },
    errors: [NOT_MEMBER],
  }),
  stream: doc({
    tag: 'conversations',
    summary: "The conversation's feed (Server-Sent Events)",
    description:
      'For clients without WebSockets: `feed_ready`, the events after `Last-Event-ID` (or `after`), then live ones; each message\'s SSE id is its last seq. Ends after 5 minutes (reconnect with Last-Event-ID), or with an `error` frame when the reader is removed or signed out.',
    params: Id,
    query: FeedStreamQuery,
    headers: { 'Last-Event-ID': 'Resume after this seq (wins over `after`).' },
    responses: { 200: { description: 'An event stream; each `data:` line is a FeedFrame.', media: { type: 'text/event-stream', schema: frameRef('FeedFrame') } } },
    errors: [NOT_MEMBER],
    extensions: { 'x-frames': { server: frameRef('FeedFrame') } },
  }),
  poll: doc({
    tag: 'conversations',
    summary: "The conversation's feed (long poll)",
    description:
      'Answers at once with the events after `after` (up to 100), or holds until one exists, who is typing differs from the `typing` token (when given: the last answer\'s, empty at first), or `timeoutMs` (at most 25 s; 0 never holds) passes. Every answer says who is typing now.',
    params: Id,
    query: FeedPollQuery,
    responses: { 200: { description: 'A page (no events after a timeout or a typing change).', schema: FeedPage } },
    errors: [NOT_MEMBER, 'rate_limited'],
  }),
  typing: doc({
    tag: 'conversations',
    summary: 'Say you are typing',
    description:
      "The socket's `typing` frame for a client on a fallback wire: others see it on their windows and feeds (never those who blocked you). Never stored; a start ends by itself after 5 s. One start per device per second, and the tier's per-minute limit.",
    params: Id,
    body: TypingBody,
    responses: { 204: { description: 'Passed on (or nothing to say: a stop while not typing).' } },
    errors: [NOT_MEMBER, 'rate_limited'],
  }),
  send: doc({
    tag: 'conversations',
    summary: 'Send a message',
    description:
      'The socket\'s `send` over HTTP. `cmid` makes it idempotent: a retried cmid answers the first ack with `duplicate: true` (200). Refused sends store nothing.',
    params: Id,
    body: SendMessageBody,
    responses: {
      201: { description: 'Stored and durable.', schema: Ack },
      200: { description: 'A retried cmid: the original ack, `duplicate: true`.', schema: Ack },
    },
    errors: [NOT_MEMBER, 'forbidden', 'media_not_found', 'content_rejected', 'encryption_required', 'encryption_not_enabled', 'invalid_envelope', 'rate_limited'],
  }),
  edit: doc({
    tag: 'conversations',
    summary: 'Edit a message',
    description: 'Author only, within the edit window (15 minutes).',
    params: IdSeq,
    body: EditMessageBody,
    responses: { 200: { description: 'The seq of the `message_edited` event.', schema: LifecycleResult } },
    errors: [NOT_MEMBER, 'forbidden', 'conflict', 'window_expired', 'content_rejected', 'media_not_found', 'encryption_required', 'encryption_not_enabled', 'invalid_envelope', 'rate_limited'],
  }),
  delete: doc({
    tag: 'conversations',
    summary: 'Delete a message',
    description: '`everyone` (author within 48 hours, or an admin), `moderate` (admins; content kept for the retention period), `me` (hide it for yourself).',
    params: IdSeq,
    query: DeleteMessageQuery,
    responses: { 200: { description: 'The seq of the `message_deleted` event, or null (for `me`, or already deleted).', schema: LifecycleResult } },
    errors: [NOT_MEMBER, 'forbidden', 'window_expired', 'rate_limited'],
  }),
  react: doc({
    tag: 'conversations',
    summary: 'React to a message',
    description: 'Adds or removes one emoji reaction (at most 20 per user per message).',
    params: IdSeq,
    body: ReactBody,
    responses: { 200: { description: 'The seq of the `reaction` event, or null when nothing changed.', schema: LifecycleResult } },
    errors: [NOT_MEMBER, 'forbidden', 'conflict', 'rate_limited'],
  }),
  versions: doc({
    tag: 'conversations',
    summary: "A message's versions",
    description: 'The original and each edit, oldest first; empty once erased; moderated messages only for admins.',
    params: IdSeq,
    responses: { 200: { description: 'The versions.', schema: MessageVersions } },
    errors: [NOT_MEMBER, 'forbidden'],
  }),
  receiptDetail: doc({
    tag: 'conversations',
    summary: "A message's receipts",
    description: 'Sent, delivered or read, by whom and when (others\' private reads show as not read).',
    params: IdSeq,
    responses: { 200: { description: 'The receipts.', schema: ReceiptDetail } },
    errors: [NOT_MEMBER, 'forbidden', 'seq_out_of_range'],
  }),
  receipts: doc({
    tag: 'conversations',
    summary: 'Read and delivered watermarks',
    description: "Every member's delivered and read seq (others' private reads show as not moved).",
    params: Id,
    responses: { 200: { description: 'The watermarks.', schema: ReceiptsOverview } },
    errors: [NOT_MEMBER],
  }),
  read: doc({
    tag: 'conversations',
    summary: 'Mark read',
    description: 'You have seen up to `seq`; a lower seq changes nothing.',
    params: Id,
    body: ReadBody,
    responses: { 200: { description: 'Your own watermarks now.', schema: Watermark.omit({ userId: true }) } },
    errors: [NOT_MEMBER, 'seq_out_of_range', 'rate_limited'],
  }),
  settings: doc({
    tag: 'conversations',
    summary: 'Your settings in this conversation',
    description: '`privateReads`: others see your read watermark as not moving.',
    params: Id,
    body: ConversationSettingsBody,
    responses: { 200: { description: 'The settings.', schema: ConversationSettingsBody } },
    errors: [NOT_MEMBER],
  }),
  search: doc({
    tag: 'search',
    summary: 'Search one conversation',
    description: 'Full-text, newest first; pass `nextBefore` as `before` for more. End-to-end encrypted conversations cannot be searched.',
    params: Id,
    query: SearchParams,
    responses: { 200: { description: 'A page of hits.', schema: SearchPage } },
    errors: [NOT_MEMBER, 'search_unavailable'],
  }),
};
