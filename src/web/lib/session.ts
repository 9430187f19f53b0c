/**
 * @module web/lib/session
 * One ChatClient per page. The session is kept in localStorage so a reload stays signed
 * in; unacked sends are kept in IndexedDB by the SDK's outbox, so they survive a reload
 * too. The device name is chosen once per browser. `?transport=sse` (or `long-poll`,
 * `websocket`) in the address forces that wire, to try the fallbacks by hand and in tests.
 */
import { ChatClient, IndexedDbOutboxStore, TRANSPORT_ORDER, type Session, type TransportKind } from '../../client/index.js';

const SESSION_KEY = 'edge-chat.session';
const DEVICE_KEY = 'edge-chat.device-name';

function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(SESSION_KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

function forcedTransport(): TransportKind | 'auto' {
  const asked = new URLSearchParams(location.search).get('transport');
  return TRANSPORT_ORDER.find((kind) => kind === asked) ?? 'auto';
}

export const client = new ChatClient({
  baseUrl: location.origin,
  transport: forcedTransport(),
  session: loadSession(),
  outboxStore: new IndexedDbOutboxStore('edge-chat-outbox'),
});

client.on('session', (session) => {
  if (session) localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else localStorage.removeItem(SESSION_KEY);
});

/** A name for this browser in the account's device list; remembered once given. */
export function defaultDeviceName(): string {
  const saved = localStorage.getItem(DEVICE_KEY);
  if (saved) return saved;
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? 'Firefox' : /Edg\//.test(ua) ? 'Edge' : /Chrom/.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Mac OS/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${browser} on ${os}` : browser;
}

export function rememberDeviceName(name: string): void {
  localStorage.setItem(DEVICE_KEY, name);
}
