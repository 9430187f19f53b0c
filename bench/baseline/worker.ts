/**
 * @module bench/baseline/worker
 * The benchmark's baseline: the least a Durable Object can do to be a chat room, so the
 * service's figures can be read as ratios to it. Two rooms speak the service's frames
 * (`send` in; `ack` and `events` out), so the load generator drives all three alike:
 *
 * - `SqliteRoom`: hibernatable sockets, each message inserted into SQLite with the next
 *   seq, acked, broadcast to every socket. The floor of durable, sequenced broadcast.
 * - `MemoryRoom`: the same without storage. The upper limit of the runtime and harness.
 *
 * No auth, no validation: that is what the service adds, and what the ratio measures.
 */
import { DurableObject } from 'cloudflare:workers';

interface Env {
  SQLITE_ROOMS: DurableObjectNamespace<SqliteRoom>;
  MEMORY_ROOMS: DurableObjectNamespace<MemoryRoom>;
}

interface Author {
  userId: string;
  deviceId: string;
}

interface SendFrame {
  type: 'send';
  cmid: string;
  content: unknown;
}

interface StoredEvent {
  seq: number;
  ts: number;
  author_user: string;
  author_device: string;
  cmid: string;
  body: string;
  [key: string]: SqlStorageValue;
}

const PING = '{"type":"ping"}';
const PONG = '{"type":"pong"}';
const MAX_PAGE = 100;

/** What both rooms share: sockets, frames and broadcast; subclasses decide how to store. */
abstract class Room extends DurableObject<Env> {
  /** When this instance was constructed: a later value after idling means it hibernated. */
  private readonly startedAt = Date.now();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
  }

  protected abstract store(author: Author, cmid: string, content: unknown, ts: number): number;

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname.endsWith('/stats')) {
      return Response.json({ startedAt: this.startedAt, sockets: this.ctx.getWebSockets().length });
    }
    if (url.pathname.endsWith('/history')) return this.history(url);
    const pair = new WebSocketPair();
    const author: Author = { userId: url.searchParams.get('user') ?? 'anon', deviceId: url.searchParams.get('device') ?? 'anon' };
    this.ctx.acceptWebSocket(pair[1]);
    pair[1].serializeAttachment(author);
    pair[1].send(JSON.stringify({ type: 'ready', conversationId: this.ctx.id.toString(), ...author, lastSeq: 0 }));
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    if (typeof message !== 'string') return;
    const frame = JSON.parse(message) as SendFrame;
    if (frame.type !== 'send') return;
    const author = ws.deserializeAttachment() as Author;
    const ts = Date.now();
    const seq = this.store(author, frame.cmid, frame.content, ts);
    ws.send(JSON.stringify({ type: 'ack', cmid: frame.cmid, seq, ts, duplicate: false }));
    const event = { seq, type: 'message', ts, author, cmid: frame.cmid, content: frame.content };
    const text = JSON.stringify({ type: 'events', conversationId: this.ctx.id.toString(), events: [event] });
    for (const socket of this.ctx.getWebSockets()) {
      try {
        socket.send(text);
      } catch {
        // Closing socket; nothing to do for a baseline.
      }
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      ws.close(code === 1005 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
  }

  protected history(_url: URL): Response {
    return Response.json({ events: [], hasMore: false });
  }
}

export class SqliteRoom extends Room {
  private seq: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      `CREATE TABLE IF NOT EXISTS events (
         seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, author_user TEXT NOT NULL,
         author_device TEXT NOT NULL, cmid TEXT NOT NULL, body TEXT NOT NULL)`,
    );
    this.seq = ctx.storage.sql.exec<{ last: number | null }>('SELECT max(seq) AS last FROM events').one().last ?? 0;
  }

  protected store(author: Author, cmid: string, content: unknown, ts: number): number {
    this.seq += 1;
    this.ctx.storage.sql.exec(
      'INSERT INTO events (seq, ts, author_user, author_device, cmid, body) VALUES (?, ?, ?, ?, ?, ?)',
      this.seq,
      ts,
      author.userId,
      author.deviceId,
      cmid,
      JSON.stringify(content),
    );
    return this.seq;
  }

  protected override history(url: URL): Response {
    const after = Number(url.searchParams.get('after') ?? 0);
    const limit = Math.min(Number(url.searchParams.get('limit') ?? MAX_PAGE), MAX_PAGE);
    const rows = this.ctx.storage.sql
      .exec<StoredEvent>('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?', after, limit + 1)
      .toArray();
    const events = rows.slice(0, limit).map((r) => ({
      seq: r.seq,
      type: 'message',
      ts: r.ts,
      author: { userId: r.author_user, deviceId: r.author_device },
      cmid: r.cmid,
      content: JSON.parse(r.body) as unknown,
    }));
    return Response.json({ events, hasMore: rows.length > limit, lastSeq: this.seq });
  }
}

export class MemoryRoom extends Room {
  private seq = 0;

  protected store(): number {
    this.seq += 1;
    return this.seq;
  }
}

export default {
  async fetch(request, env): Promise<Response> {
    const [, kind, room] = new URL(request.url).pathname.split('/');
    if (!room) return new Response('Use /sqlite/:room/... or /memory/:room/...', { status: 404 });
    if (kind === 'sqlite') return env.SQLITE_ROOMS.getByName(room).fetch(request);
    if (kind === 'memory') return env.MEMORY_ROOMS.getByName(room).fetch(request);
    return new Response('Unknown room kind.', { status: 404 });
  },
} satisfies ExportedHandler<Env>;
