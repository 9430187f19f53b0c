/**
 * A stand-in push service for the workerd tests (vitest `globalSetup`, runs in Node).
 * Locally there is no push service, so subscriptions point here: every POST to
 * `/push/<inbox>` is recorded as it arrived (headers and raw encrypted body) for the test
 * to decrypt, and `GET /inbox/<inbox>` reads them back. The first path segment after
 * `/push/` picks the answer, so a test can play an expired subscription or an outage:
 * `/push/gone-…` answers 410, `/push/down-…` answers 503, anything else 201.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestProject } from 'vitest/node';

export interface ReceivedPush {
  headers: Record<string, string>;
  /** The request body, base64. */
  body: string;
  at: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    pushReceiverUrl: string;
  }
}

/** Bounds memory if a test run goes wrong: no inbox ever needs more. */
const MAX_PER_INBOX = 100;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const inboxes = new Map<string, ReceivedPush[]>();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://receiver');
    const [, kind, inbox] = url.pathname.split('/');
    if (req.method === 'POST' && kind === 'push' && inbox) {
      const body = await readBody(req);
      const list = inboxes.get(inbox) ?? [];
      if (list.length < MAX_PER_INBOX) list.push({ headers: flatHeaders(req), body: body.toString('base64'), at: Date.now() });
      inboxes.set(inbox, list);
      res.writeHead(inbox.startsWith('gone-') ? 410 : inbox.startsWith('down-') ? 503 : 201).end();
      return;
    }
    if (req.method === 'GET' && kind === 'inbox' && inbox) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(inboxes.get(inbox) ?? []));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  project.provide('pushReceiverUrl', `http://127.0.0.1:${port}`);
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') out[name] = value;
  return out;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
