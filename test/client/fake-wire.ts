/**
 * A wire for the SDK's own tests (no server): it records what it is handed while up and
 * signals what the test says. Up once it signals `open` (at `start` with `openAt`, or on
 * `up()`), down again on `down`; handed a send while down, it refuses it, as a real
 * transport does, and the outbox keeps it.
 */
import type { PendingSend, Transport, TransportSignal } from '../../src/client/transports/types.js';

export function fakeWire(options: { openAt?: number } = {}) {
  const sent: PendingSend[] = [];
  let connected = false;
  let emit: (s: TransportSignal) => void = () => {};
  const signal = (s: TransportSignal) => {
    if (s.type === 'open') connected = true;
    if (s.type === 'down') connected = false;
    emit(s);
  };
  const create = (to: (s: TransportSignal) => void): Transport => {
    emit = to;
    return {
      kind: 'websocket',
      start: () => {
        if (options.openAt !== undefined) signal({ type: 'open', lastSeq: options.openAt });
      },
      send: (message) => {
        if (!connected) return false;
        sent.push(structuredClone(message));
        return true;
      },
      close: () => {},
    };
  };
  return {
    sent,
    /** The cmids handed over, in order (a resend appears again). */
    cmids: () => sent.map((m) => m.cmid),
    create,
    signal,
    up: (lastSeq: number) => signal({ type: 'open', lastSeq }),
  };
}

export type FakeWire = ReturnType<typeof fakeWire>;
