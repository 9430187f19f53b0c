/**
 * @module web/lib/connection
 * What the connection badge says. Honest by construction: "online" only while the
 * conversation's stream is open, and queued sends are counted while it is not.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ConnectionStatus } from '../../client/index.js';

export type Tone = 'online' | 'connecting' | 'offline';

export interface ConnectionView {
  tone: Tone;
  text: string;
}

export const TRANSPORT_NAMES: Record<string, string> = { websocket: 'WebSocket', sse: 'SSE', 'long-poll': 'long polling', longpoll: 'long polling' };

export function connectionView(input: { status: ConnectionStatus | 'idle'; browserOnline: boolean; queued: number; transport: string | null }): ConnectionView {
  const queued = input.queued > 0 ? ` · ${input.queued} queued` : '';
  if (!input.browserOnline) return { tone: 'offline', text: `Offline${queued}` };
  switch (input.status) {
    case 'open': {
      const via = input.transport ? ` via ${TRANSPORT_NAMES[input.transport] ?? input.transport}` : '';
      // "Connected", not "Online": the header's other line is the peer's presence ("online").
      return { tone: 'online', text: `Connected${via}${queued}` };
    }
    case 'connecting':
      return { tone: 'connecting', text: `Connecting…${queued}` };
    case 'reconnecting':
      return { tone: 'offline', text: `Offline, reconnecting${queued}` };
    case 'closed':
      return { tone: 'offline', text: `Disconnected${queued}` };
    case 'idle':
      return { tone: 'online', text: 'Signed in' };
  }
}

/** Whether the browser thinks it has a network (`navigator.onLine`, kept current). */
export function useBrowserOnline(): boolean {
  const [online, setOnline] = useState(navigator.onLine);
  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    window.addEventListener('online', on);
    window.addEventListener('offline', off);
    return () => {
      window.removeEventListener('online', on);
      window.removeEventListener('offline', off);
    };
  }, []);
  return online;
}
