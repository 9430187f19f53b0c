/**
 * The real SDK (src/client) inside workerd, against the real Worker and objects: when the
 * sender's allowance lease throws (issue 15, defect 6), the service answers the send with
 * a retryable `internal` error carrying its cmid, and the SDK's own retry lands the
 * message exactly once, over every wire. The fault is injected at the UserDO
 * (`patchUserDO`); the app only calls `send()` and waits for its ack.
 */
import { describe, expect, it } from 'vitest';
import { exports } from 'cloudflare:workers';
import { BASE, createGroup, registerUser } from './helpers.js';
import { historyOf, patchUserDO } from './boundary-helpers.js';
import type { Ack, Session } from '../../src/protocol/index.js';

/**
 * The SDK is written against the DOM's types and this project's against workerd's, so it
 * is loaded by a path the type checker does not follow; this is the part of it used here
 * (src/client/ChatClient.ts is the whole).
 */
interface Sdk {
  ChatClient: new (options: {
    baseUrl: string;
    session: Session;
    transport: Transport;
    fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
    WebSocket: typeof WorkerdWebSocket;
    streamTiming?: { pollHoldMs?: number };
  }) => { open(id: string): Promise<{ send(text: string): Promise<Ack> }>; close(): void };
}
const SDK_MODULE: string = '../../src/client/ChatClient.js';
type Transport = 'websocket' | 'sse' | 'long-poll';

/**
 * The browser's WebSocket, over an upgrade through the Worker's own fetch: what the SDK
 * needs of it (readyState, protocol, send, close, on* handlers and 'message' listeners).
 */
class WorkerdWebSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  readyState = 0;
  protocol = '';
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  #socket: WebSocket | null = null;

  constructor(url: string, protocols?: string | string[]) {
    super();
    const headers: Record<string, string> = { upgrade: 'websocket' };
    if (protocols) headers['sec-websocket-protocol'] = ([] as string[]).concat(protocols).join(', ');
    void exports.default.fetch(url.replace(/^ws/, 'http'), { headers }).then(
      (res) => this.#opened(res),
      () => this.#ended(1006, 'upgrade failed'),
    );
  }

  send(data: string): void {
    if (this.readyState !== this.OPEN) throw new Error('WebSocket is not open');
    this.#socket!.send(data);
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState >= this.CLOSING) return;
    this.readyState = this.CLOSING;
    if (this.#socket) this.#socket.close(code, reason);
    else this.#ended(code, reason);
  }

  #opened(res: Response): void {
    const socket = res.webSocket;
    if (res.status !== 101 || !socket) return this.#ended(1006, `upgrade answered ${res.status}`);
    this.#socket = socket;
    socket.accept();
    this.protocol = res.headers.get('sec-websocket-protocol') ?? '';
    socket.addEventListener('message', (event) => this.#fire('message', new MessageEvent('message', { data: event.data })));
    socket.addEventListener('close', (event) => this.#ended(event.code, event.reason));
    if (this.readyState === this.CLOSING) return socket.close(1000, 'closed while opening');
    this.readyState = this.OPEN;
    this.#fire('open', new Event('open'));
  }

  #ended(code: number, reason: string): void {
    if (this.readyState === this.CLOSED) return;
    this.readyState = this.CLOSED;
    this.#fire('close', new CloseEvent('close', { code, reason, wasClean: code !== 1006 }));
  }

  #fire(type: 'open' | 'message' | 'close', event: Event): void {
    const handler = this[`on${type}`] as ((event: Event) => void) | null;
    handler?.call(this, event);
    this.dispatchEvent(event);
  }
}

const WIRES: Transport[] = ['websocket', 'sse', 'long-poll'];

describe('a send whose allowance lease throws is retried by the SDK and lands once', () => {
  for (const transport of WIRES) {
    it(`over ${transport}: two refusals with internal, then one stored message, acked once`, async () => {
      const [sender, other] = [await registerUser('sender'), await registerUser('other')];
      const id = await createGroup(sender, [other]);
      const { ChatClient } = (await import(SDK_MODULE)) as Sdk;
      const client = new ChatClient({
        baseUrl: BASE,
        session: sender,
        transport,
        fetch: (input, init) => exports.default.fetch(input, init),
        WebSocket: WorkerdWebSocket,
        // A poll held for the default 25 s outlives the test, and the file's teardown waits for it.
        streamTiming: { pollHoldMs: 1_000 },
      });
      let refusals = 0;
      const restore = patchUserDO(sender.user.id, 'leaseSends', async (original, self, args) => {
        if (refusals < 2) {
          refusals++;
          throw new Error('injected: lease refused');
        }
        return original.apply(self, args);
      });
      try {
        const chat = await client.open(id);
        const ack = await chat.send('sent through two lease failures');
        expect(refusals).toBe(2);
        const stored = (await historyOf(sender, id)).filter((e) => e.type === 'message' && e.cmid === ack.cmid);
        expect(stored.map((e) => e.seq)).toEqual([ack.seq]);
      } finally {
        restore();
        client.close();
      }
    });
  }
});
