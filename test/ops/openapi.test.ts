/**
 * The API description as an integrator gets it, from a real `wrangler dev` (port 8861):
 * `/v1/openapi.json` is a valid OpenAPI 3.1 document (@seriousme/openapi-schema-validator),
 * its routes are exactly PROTOCOL.md's, PROTOCOL.md's frame tables name every frame type
 * of the schemas the sockets and streams use, and `/docs` renders in Debian's Chromium
 * (never a downloaded browser) without a CSP violation or a request to another origin.
 * A screenshot goes to test-results/screenshots/docs-*.png. Needs `npm run build:web`
 * (the reference's script is a static asset).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWrangler, type Wrangler } from '../e2e/wrangler.js';

const PORT = 8861;
const ROOT = resolve(import.meta.dirname, '../..');
const SHOTS = resolve(ROOT, 'test-results/screenshots');
const PROTOCOL = readFileSync(resolve(ROOT, 'docs/PROTOCOL.md'), 'utf8');

type Schema = { oneOf?: Schema[]; anyOf?: Schema[]; properties?: Record<string, { const?: string; enum?: string[] }> };
interface Document {
  paths: Record<string, Record<string, { description?: string }>>;
  components: { schemas: Record<string, Schema> };
}

let server: Wrangler;
let document: Document;
let browser: Browser | undefined;

beforeAll(async () => {
  server = await startWrangler(PORT);
  document = (await (await fetch(`${server.url}/v1/openapi.json`)).json()) as Document;
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** The text of one `## heading` section of PROTOCOL.md. */
function section(heading: string): string {
  const start = PROTOCOL.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`PROTOCOL.md has no section "${heading}"`);
  const end = PROTOCOL.indexOf('\n## ', start + 4);
  return PROTOCOL.slice(start, end < 0 ? undefined : end);
}

/** The discriminator values of a union schema (`type`, or `kind` for device events). */
function variants(name: string, key = 'type'): string[] {
  const schema = document.components.schemas[name]!;
  const members = schema.oneOf ?? schema.anyOf ?? [schema];
  return members.map((m) => m.properties?.[key]?.const ?? m.properties?.[key]?.enum?.[0] ?? '?');
}

/** PROTOCOL.md's routes as `METHOD /path` in OpenAPI form; routes are under /v1 except the root ones. */
function protocolRoutes(): string[] {
  const ROOT_PATHS = new Set(['/healthz', '/readyz', '/docs']);
  const SIGNED: Record<string, string> = {
    '<upload.url>': '/v1/media/upload/{id}',
    '<upload.parts[n-1]>': '/v1/media/upload/{id}/parts/{n}',
    '<upload.status>': '/v1/media/upload/{id}/status',
    '<upload.complete>': '/v1/media/upload/{id}/complete',
  };
  return [...PROTOCOL.matchAll(/^\| `(GET|POST|PUT|PATCH|DELETE) ([^`?]+)(?:\?[^`]*)?`/gm)].map(([, method, raw]) => {
    const path = SIGNED[raw!] ?? (ROOT_PATHS.has(raw!) ? raw! : `/v1${raw}`);
    return `${method} ${path.replace(/:([A-Za-z]+)/g, '{$1}')}`;
  });
}

describe('/v1/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(document as never);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 1)?.slice(0, 2_000)).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('has exactly the routes of PROTOCOL.md, each described', () => {
    const documented = Object.entries(document.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect([...new Set(protocolRoutes())].sort()).toEqual(documented.sort());
    for (const [path, ops] of Object.entries(document.paths)) for (const [m, op] of Object.entries(ops)) expect(op.description, `${m} ${path}`).toBeTruthy();
  });

  it("PROTOCOL.md's frame tables name every frame type of the schemas", () => {
    const chat = section('Chat-window WebSocket frames').split('Server → client');
    const inbox = section('Inbox WebSocket frames').split('Server → client');
    const tables: [string, string, string][] = [
      ['ChatClientFrame', 'type', chat[0]!],
      ['ChatServerFrame', 'type', chat[1]!],
      ['InboxClientFrame', 'type', inbox[0]!],
      ['InboxServerFrame', 'type', inbox[1]!],
    ];
    for (const [name, key, text] of tables) {
      for (const type of variants(name, key)) expect(text, `${name} "${type}" is missing from PROTOCOL.md`).toContain(`{ type: "${type}"`);
    }
    const feed = section("A conversation's feed over HTTP");
    for (const type of variants('FeedFrame')) expect(feed, `FeedFrame "${type}"`).toMatch(new RegExp(`"type":"${type}"|\`${type}\``));
    const events = section('Events');
    for (const type of variants('ConversationEvent')) expect(events, `ConversationEvent "${type}"`).toContain(`| \`${type}\` |`);
    const deviceEvents = section('Inbox WebSocket frames');
    for (const kind of variants('DeviceEvent', 'kind')) expect(deviceEvents, `DeviceEvent "${kind}"`).toContain(`| \`${kind}\` |`);
  });
});

describe('/docs', () => {
  it('renders the reference in Chromium, from this origin only, under its CSP', async () => {
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    page.on('request', (request) => {
      if (!request.url().startsWith(server.url) && !request.url().startsWith('data:')) problems.push(`another origin: ${request.url()}`);
    });
    const res = await page.goto(`${server.url}/docs`);
    expect(res?.headers()['content-security-policy']).toMatch(/script-src 'self' 'nonce-[^']+'(;|$)/);
    await page.getByText('Create an account').first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: resolve(SHOTS, 'docs-overview.png') });
    await page.getByRole('button', { name: 'conversations' }).first().click();
    await page.getByText('Send a message').first().click({ timeout: 15_000 });
    await page.getByText('cmid').first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: resolve(SHOTS, 'docs-send.png') });
    expect(problems).toEqual([]);
  });
});
