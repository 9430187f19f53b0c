/**
 * @module user/inbox-sockets
 * The devices' inbox sockets, one per device (hibernatable; identity in the attachment,
 * so it survives hibernation). A socket opens only for a signed-in device, gets its
 * backlog then live events, and every frame it sends is answered (an `ack` by moving the
 * device's cursor, anything else by an error frame; a handler that throws by `internal`).
 * Liveness comes from the runtime's ping auto-response timestamps (./presence.ts).
 */
import { CLOSE_CODES, INBOX_CLIENT_FRAME_TYPES, InboxClientFrame, type InboxFrame } from '../protocol/index.js';
import { AppError } from '../errors.js';
import { answering, closeQuietly, deviceTag, errorFrame, readFrame, rejectSocket, sendFrame, sendText } from '../objects/sockets.js';
import { log, reason } from '../log.js';
import * as presence from './presence.js';
import { REVOKED, type EventStream } from './events.js';
import type { Devices } from './devices.js';

export class InboxSockets {
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly devices: Devices,
    private readonly stream: EventStream,
  ) {}

  /**
   * Accepts the device's inbox socket (the Worker checked the ticket and standing; this
   * checks standing again, here, where the socket will live). A newer socket of the same
   * device replaces the older (4009).
   */
  accept(deviceId: string, now: number): Response {
    if (!this.devices.isActive(deviceId)) return rejectSocket({ code: 'device_revoked', message: REVOKED }, CLOSE_CODES.deviceRevoked);
    for (const old of this.ctx.getWebSockets(deviceTag(deviceId))) closeQuietly(old, CLOSE_CODES.replaced, 'Replaced by a newer connection of this device.');
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    let frames: InboxFrame[];
    try {
      const start = this.stream.backlogStart(deviceId, now);
      if (!start.ok) return rejectSocket(start.error, CLOSE_CODES.deviceRevoked);
      frames = this.stream.backlogFrames(deviceId, start.value);
    } catch (err) {
      log.error('inbox_backlog_failed', { userId: this.ctx.id.name, deviceId, reason: reason(err) });
      return rejectSocket({ code: 'internal', message: 'Could not load the queue; try again.' }, CLOSE_CODES.serverError);
    }
    this.ctx.acceptWebSocket(server, [deviceTag(deviceId)]);
    server.serializeAttachment({ deviceId, connectedAt: now, lastMessageAt: now } satisfies presence.InboxAttachment);
    for (const frame of frames) sendFrame(server, frame);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** A client frame: every one is answered. `ack` moves the device's cursor (refused, and the socket closed, once it is revoked). */
  async message(ws: WebSocket, message: string | ArrayBuffer, ack: (deviceId: string, cursor: number) => Promise<void>): Promise<void> {
    const attachment = ws.deserializeAttachment() as presence.InboxAttachment;
    ws.serializeAttachment({ ...attachment, lastMessageAt: Date.now() } satisfies presence.InboxAttachment);
    const frame = readFrame(ws, message, InboxClientFrame, INBOX_CLIENT_FRAME_TYPES);
    if (!frame) return;
    await answering(
      ws,
      {},
      async () => {
        try {
          await ack(attachment.deviceId, frame.cursor);
        } catch (err) {
          if (!(err instanceof AppError && err.code === 'device_revoked')) throw err;
          // Told first, then closed: a terminal code, the SDK does not reconnect.
          sendFrame(ws, errorFrame(err.toBody()));
          closeQuietly(ws, CLOSE_CODES.deviceRevoked, REVOKED);
        }
      },
      { userId: this.ctx.id.name, deviceId: attachment.deviceId, frame: frame.type },
    );
  }

  /**
   * Sends each text to every open socket of a signed-in device; returns how many sockets
   * got them. `texts` may be a function of the device, for frames that differ per device
   * (end-to-end encrypted envelopes: each device gets its own entry only).
   */
  broadcast(texts: string[] | ((deviceId: string) => string[])): number {
    let reached = 0;
    for (const ws of this.open()) {
      const { deviceId } = ws.deserializeAttachment() as presence.InboxAttachment;
      // Its sockets closed at the revocation; this only guards one that slipped through.
      if (!this.devices.isActive(deviceId)) {
        closeQuietly(ws, CLOSE_CODES.deviceRevoked, REVOKED);
        continue;
      }
      for (const text of typeof texts === 'function' ? texts(deviceId) : texts) sendText(ws, text);
      reached++;
    }
    return reached;
  }

  /** Sends each text to the device's own socket (an event for it alone); returns how many sockets got them. */
  sendTo(deviceId: string, texts: string[]): number {
    if (!this.devices.isActive(deviceId)) return 0;
    const sockets = this.ctx.getWebSockets(deviceTag(deviceId)).filter((ws) => ws.readyState === WebSocket.OPEN);
    for (const ws of sockets) for (const text of texts) sendText(ws, text);
    return sockets.length;
  }

  /** Closes the device's sockets (revoked: 4004). */
  closeDevice(deviceId: string, code: number, why: string): void {
    for (const ws of this.ctx.getWebSockets(deviceTag(deviceId))) closeQuietly(ws, code, why);
  }

  /** Closes sockets silent for longer than PRESENCE.staleAfterMs (half-open: the client vanished); returns them. */
  closeStale(now: number): WebSocket[] {
    const stale = this.open().filter((ws) =>
      presence.isStale(presence.lastSignOfLife(ws.deserializeAttachment() as presence.InboxAttachment, this.ctx.getWebSocketAutoResponseTimestamp(ws)), now),
    );
    for (const ws of stale) closeQuietly(ws, CLOSE_CODES.goingAway, 'No heartbeat.');
    return stale;
  }

  open(except: WebSocket[] = []): WebSocket[] {
    return this.ctx.getWebSockets().filter((ws) => ws.readyState === WebSocket.OPEN && !except.includes(ws));
  }
}
