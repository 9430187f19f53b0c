/**
 * @module test/reliability/device
 * One device, in a process of its own: a real SDK `ChatClient` (the bundle built by
 * `sdk-bundle.ts`, path in RELIABILITY_SDK) driven by the test over Node IPC. It reports
 * what its app saw, as `Observation`s, every 50 ms and before every answer.
 *
 * Run by `fleet.ts` with Node's type stripping: erasable TypeScript only.
 */
import type { ChatClient as ChatClientType, ConversationHandle, OutboxStore } from '../../src/client/index.js';
import type { Command, DeviceStatus, DeviceTiming, FromDevice, Observation, PostAnswer, ToDevice, Wire } from './ipc.js';

type Sdk = typeof import('../../src/client/index.js');
const sdk: Sdk = await import(process.env.RELIABILITY_SDK!);

let baseUrl = '';
let wire: Wire = 'websocket';
let timing: DeviceTiming | null = null;
let client: ChatClientType | null = null;
/** The chats being opened again after a reload (null when none is): sends wait for it. */
let reopening: Promise<void> | null = null;
const store: OutboxStore = new sdk.MemoryOutboxStore();
const windows = new Map<string, ConversationHandle>();
/** Conversations the app has open (kept while offline), with the last seq it has. */
const opened = new Map<string, number>();
let pending: Observation[] = [];
/** The SDK's HTTP calls whose answer has not begun (no status yet), with when each started. */
const inFlight = new Set<{ what: string; at: number }>();

const note = (o: Observation) => pending.push(o);
const flush = () => {
  if (pending.length === 0 || !process.connected) return;
  const observations = pending;
  pending = [];
  send({ observations });
};
const send = (message: FromDevice) => process.send!(message);
setInterval(flush, 50).unref();

function newClient(session: ChatClientType['session'] = null): ChatClientType {
  if (!timing) throw new Error('init first');
  const c = new sdk.ChatClient({
    baseUrl,
    transport: wire,
    session,
    outboxStore: store,
    backoff: timing.backoff,
    keepalive: timing.keepalive,
    requestTimeoutMs: timing.requestTimeoutMs,
    streamTiming: timing.streamTiming,
    // Socket life events are kept, to explain a window that does not come back.
    WebSocket: class extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        const path = String(url).replace(/^ws:\/\/[^/]+/, '').split('?')[0]!;
        note({ k: 'ws', what: `${path} new`, at: Date.now() });
        this.addEventListener('open', () => note({ k: 'ws', what: `${path} open`, at: Date.now() }));
        this.addEventListener('close', (e) => note({ k: 'ws', what: `${path} close ${e.code}`, at: Date.now() }));
      }
    },
    // Failed calls are kept (not successes: too many), to explain a run that does not settle.
    fetch: async (input, init) => {
      const what = `${init?.method ?? 'GET'} ${String(input).replace(baseUrl, '').split('?')[0]}`;
      const call = { what, at: Date.now() };
      inFlight.add(call);
      try {
        const res = await fetch(input, init);
        if (!res.ok) note({ k: 'http', what, result: String(res.status), at: Date.now() });
        else if (res.headers.get('content-type')?.includes('json')) {
          // An answer that is not JSON: keep what it was (see RELIABILITY.md, findings).
          const copy = res.clone();
          void copy.text().then(
            (text) => {
              try {
                JSON.parse(text);
              } catch {
                note({ k: 'http', what, result: `${res.status} not JSON (${text.length} chars: ${JSON.stringify(text.slice(0, 80))}...${JSON.stringify(text.slice(-40))}; ${JSON.stringify([...res.headers].filter(([h]) => /length|encoding|type/.test(h)))})`, at: Date.now() });
              }
            },
            () => undefined,
          );
        }
        return res;
      } catch (error) {
        note({ k: 'http', what, result: (error as Error).name, at: Date.now() });
        throw error;
      } finally {
        inFlight.delete(call);
      }
    },
  });
  c.on('inbox', (u) => {
    if (u.type === 'events') note({ k: 'in', events: u.events, at: Date.now() });
    else if (u.type === 'resync') note({ k: 'resync', at: Date.now() });
  });
  c.on('transport', (s) => note({ k: 'tr', kind: s.kind, state: s.state, at: Date.now() }));
  return c;
}

function signedIn(): ChatClientType {
  if (!client) throw new Error('not signed in');
  return client;
}

async function open(c: string): Promise<void> {
  const after = opened.get(c) ?? 0;
  const chat = await signedIn().open(c, { after });
  windows.set(c, chat);
  opened.set(c, after);
  note({ k: 'open', c, after, at: Date.now() });
  chat.on('event', (e) => {
    opened.set(c, e.seq);
    note({ k: 'ev', c, e, at: Date.now() });
  });
  chat.on('queued', (q) => note({ k: 'q', c, cmid: q.cmid, text: q.content.type === 'text' ? q.content.text : '', at: Date.now() }));
  chat.on('ack', (a) => note({ k: 'ack', c, cmid: a.cmid, seq: a.seq, dup: a.duplicate, at: Date.now() }));
  chat.on('failed', (f) => note({ k: 'fail', c, cmid: f.cmid, code: f.error.code, at: Date.now() }));
  chat.on('status', (status) => note({ k: 'st', c, status, ...(status === 'closed' && chat.closedError ? { why: `${chat.closedError.code}: ${chat.closedError.message}` } : {}), at: Date.now() }));
  chat.on('error', (error) => note({ k: 'err', c, code: error.code, at: Date.now() }));
}

function windowOf(c: string): ConversationHandle {
  const chat = windows.get(c);
  if (!chat) throw new Error(`conversation ${c} is not open`);
  return chat;
}

function offline(): void {
  client?.close();
  windows.clear();
}

async function post(c: string, cmid: string, text: string, copies: number, attempts: number, retryMs: number): Promise<PostAnswer[]> {
  return sendCopies(copies, attempts, retryMs, async () => {
    const res = await fetch(`${baseUrl}/v1/conversations/${c}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await signedIn().accessToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cmid, content: { type: 'text', text } }),
      signal: AbortSignal.timeout(timing!.requestTimeoutMs),
    });
    // A body cut off (by the timeout or a crash) after the status line is no answer at all:
    // `sendCopies` records it as a failure, as the SDK would treat it.
    const body = (await res.json()) as { seq?: number; duplicate?: boolean; code?: string; retryAfterMs?: number };
    return { status: res.status, seq: body.seq, duplicate: body.duplicate, code: body.code, retryAfterMs: body.retryAfterMs, retryAfter: res.headers.get('retry-after') ?? undefined, at: Date.now() };
  });
}

/**
 * Sends `copies` copies at once, each tried up to `attempts` times, `retryMs` apart, while
 * its answer is no answer (status 0: a failure, a timeout), 429 or 5xx. Every answer, in
 * the order they came.
 */
async function sendCopies(copies: number, attempts: number, retryMs: number, once: () => Promise<PostAnswer>): Promise<PostAnswer[]> {
  const answers: PostAnswer[] = [];
  const one = async () => {
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const answer = await once().catch((): PostAnswer => ({ status: 0, at: Date.now() }));
      answers.push(answer);
      if (answer.status !== 0 && answer.status !== 429 && answer.status < 500) return;
      await new Promise((r) => setTimeout(r, retryMs));
    }
  };
  await Promise.all(Array.from({ length: copies }, one));
  return answers;
}

/**
 * The subprotocols of an authenticated socket: `WS_SUBPROTOCOL` and `WS_BEARER_PREFIX` of
 * src/protocol/frames.ts (this process strips types only, so it cannot import that module).
 */
const bearerProtocols = (token: string) => ['edge-chat.v1', `bearer.${token}`];

/**
 * As `post`, over the chat-window WebSocket: each copy opens a socket of its own
 * (authenticated as the SDK does), waits for `ready`, sends one `send` frame with `cmid`
 * and waits for its ack; a socket that closes, errs or times out first is a failure, and
 * the copy tries again on a new socket. An ack is answered as the HTTP route would be
 * (201 new, 200 duplicate) so both paths are checked alike.
 */
async function wsPost(c: string, cmid: string, text: string, copies: number, attempts: number, retryMs: number): Promise<PostAnswer[]> {
  const url = `${baseUrl.replace(/^http/, 'ws')}/v1/conversations/${c}/ws`;
  const once = async (): Promise<PostAnswer> => {
    const ws = new WebSocket(url, bearerProtocols(await signedIn().accessToken()));
    return new Promise<PostAnswer>((resolve) => {
      let answered = false;
      const done = (answer: Omit<PostAnswer, 'at'>) => {
        // Closing the socket fires its close event: the first outcome is the answer.
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        ws.close();
        resolve({ ...answer, at: Date.now() });
      };
      const timer = setTimeout(() => done({ status: 0 }), timing!.requestTimeoutMs);
      ws.addEventListener('error', () => done({ status: 0 }));
      ws.addEventListener('close', () => done({ status: 0 }));
      ws.addEventListener('message', (m) => {
        const frame = JSON.parse(String(m.data)) as { type: string; cmid?: string; rid?: string; seq?: number; duplicate?: boolean; code?: string; retryAfterMs?: number };
        if (frame.type === 'ready') ws.send(JSON.stringify({ type: 'send', rid: 'r1', cmid, content: { type: 'text', text } }));
        else if (frame.type === 'ack' && frame.cmid === cmid) done({ status: frame.duplicate ? 200 : 201, seq: frame.seq, duplicate: frame.duplicate });
        else if (frame.type === 'error' && (frame.rid === 'r1' || frame.cmid === cmid)) done({ status: frame.code === 'rate_limited' ? 429 : 400, code: frame.code, retryAfterMs: frame.retryAfterMs });
      });
    });
  };
  return sendCopies(copies, attempts, retryMs, once);
}

async function run(command: Command): Promise<unknown> {
  switch (command.op) {
    case 'init':
      ({ baseUrl, wire, timing } = command);
      client = newClient();
      return null;
    case 'register':
    case 'login': {
      const c = signedIn();
      const { handle, password, deviceName } = command;
      const session = command.op === 'register' ? await c.register({ handle, password, deviceName, displayName: handle }) : await c.login({ handle, password, deviceName });
      return { userId: session.user.id, deviceId: session.deviceId };
    }
    case 'createDirect':
      return (await signedIn().createDirect(command.peerId)).id;
    case 'createGroup':
      return (await signedIn().createGroup(command.title, command.memberIds)).id;
    case 'addMember':
      await signedIn().addMember(command.c, command.userId);
      return null;
    case 'removeMember':
      await signedIn().removeMember(command.c, command.userId);
      return null;
    case 'connect':
      signedIn().connect();
      return null;
    case 'open':
      await open(command.c);
      return null;
    case 'offline':
      offline();
      note({ k: 'restart', why: 'offline', at: Date.now() });
      return null;
    case 'online':
      signedIn().connect();
      for (const c of opened.keys()) await open(c);
      return null;
    case 'reload': {
      // As an app that keeps the last device-event cursor it processed (SDK.md) would.
      const session = signedIn().session;
      const after = signedIn().inboxCursor;
      offline();
      note({ k: 'restart', why: 'reload', at: Date.now() });
      client = newClient(session);
      client.connect({ after });
      reopening = (async () => {
        for (const c of opened.keys()) await open(c);
      })();
      await reopening.finally(() => (reopening = null));
      return null;
    }
    case 'send': {
      // A send that arrives while the app reloads waits for its chats to be open again, as a user would.
      await reopening;
      const chat = windowOf(command.c);
      for (const text of command.texts) {
        // The outcome arrives as `ack` or `failed`; a send cut short by `offline` stays in the outbox.
        chat.send(text).catch(() => {});
        if (command.gapMs > 0) await new Promise((r) => setTimeout(r, command.gapMs));
      }
      return command.texts.length;
    }
    case 'edit':
      return windowOf(command.c).edit(command.seq, command.text);
    case 'delete':
      return windowOf(command.c).delete(command.seq, 'everyone');
    case 'react':
      return windowOf(command.c).react(command.seq, command.emoji, command.remove ? 'remove' : 'add');
    case 'status': {
      const status: DeviceStatus = { wire: client?.transport ?? null, conversations: {}, inFlight: [...inFlight].map((call) => ({ what: call.what, ms: Date.now() - call.at })) };
      for (const [c, chat] of windows) status.conversations[c] = { lastSeq: chat.lastSeq, status: chat.status, pending: chat.pending().length };
      return status;
    }
    case 'token':
      return signedIn().accessToken();
    case 'post':
      return (command.over === 'websocket' ? wsPost : post)(command.c, command.cmid, command.text, command.copies, command.attempts, command.retryMs);
  }
}

process.on('message', (message: ToDevice) => {
  run(message.command).then(
    (value) => {
      flush();
      send({ id: message.id, ok: true, value: value ?? null });
    },
    (error: unknown) => {
      flush();
      const code = (error as { code?: string }).code;
      send({ id: message.id, ok: false, error: `${code ? `${code}: ` : ''}${error instanceof Error ? error.message : String(error)}` });
    },
  );
});
process.on('disconnect', () => process.exit(0));
