/**
 * A TCP proxy the test can cut, standing between the clients and wrangler dev to
 * simulate network loss: `cut()` destroys every open connection (both sides see a reset)
 * and refuses new ones for a while; `stall()` keeps connections open but drops their
 * bytes, which is what a half-open connection looks like to both ends.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface CutProxy {
  url: string;
  /** Destroys every connection and refuses new ones for `refuseMs`. */
  cut(refuseMs?: number): void;
  /** Silently drops all bytes on current connections, without closing them. */
  stall(): void;
  /**
   * Resets any connection whose client bytes match `pattern` (e.g. a WebSocket upgrade
   * header, or a path), as a proxy that blocks them would; null lets everything through.
   */
  refuse(pattern: RegExp | null): void;
  /** How many connections `refuse` reset. */
  readonly refused: number;
  /** How many connections were accepted (for sanity checks). */
  readonly accepted: number;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<CutProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket; stalled: boolean }>();
  let refuseUntil = 0;
  let accepted = 0;
  let refusing: RegExp | null = null;
  let refused = 0;
  const server: Server = createServer((client) => {
    if (Date.now() < refuseUntil) {
      client.resetAndDestroy();
      return;
    }
    accepted++;
    const upstream = connect(targetPort, '127.0.0.1');
    const pair = { client, upstream, stalled: false };
    pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (chunk) => {
        if (!pair.stalled) to.write(chunk);
      });
    client.on('data', (chunk) => {
      if (refusing?.test(chunk.toString('latin1'))) {
        refused++;
        client.resetAndDestroy();
        upstream.destroy();
      }
    });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy did not bind');
  return {
    url: `http://127.0.0.1:${address.port}`,
    get accepted() {
      return accepted;
    },
    get refused() {
      return refused;
    },
    refuse(pattern) {
      refusing = pattern;
    },
    cut(refuseMs = 0) {
      refuseUntil = Date.now() + refuseMs;
      for (const pair of pairs) {
        pair.client.resetAndDestroy();
        pair.upstream.destroy();
      }
      pairs.clear();
    },
    stall() {
      for (const pair of pairs) pair.stalled = true;
    },
    close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
