/**
 * The UserDO's inbox socket answers every frame (a bad one with its error, one whose
 * handler throws with a retryable `internal`), refuses an ack from a revoked device and
 * closes it; and a message deleted in the same fan-out batch never reaches a queue with
 * its content (as a tombstone).
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { registerUser } from './helpers.js';
import { openInbox, secondDevice } from './inbox-helpers.js';
import { unwrap } from '../../src/errors.js';
import type { ConversationEvent } from '../../src/protocol/index.js';

const errors = (frames: { type: string }[]) => frames.filter((f): f is { type: 'error'; code: string } => f.type === 'error');

describe('the inbox socket answers every frame', () => {
  it('a bad frame gets its error and the socket stays usable; a handler that throws answers internal', async () => {
    const alice = await registerUser('alice');
    const inbox = await openInbox(alice);
    inbox.socket.send('not json');
    inbox.socket.send({ type: 'ack', cursor: -1 });
    inbox.socket.send({ type: 'subscribe' });
    await inbox.until(() => errors(inbox.frames).length === 3, 'three errors');
    expect(errors(inbox.frames).map((f) => f.code)).toEqual(['invalid_json', 'invalid_request', 'unknown_frame_type']);

    const stub = env.USERS.getByName(alice.user.id);
    await runInDurableObject(stub, (instance) => {
      (instance as unknown as { stream: { ack: () => never } }).stream.ack = () => {
        throw new Error('the store is on fire');
      };
    });
    inbox.ack(0);
    await inbox.until(() => errors(inbox.frames).length === 4, 'a fourth error');
    expect(errors(inbox.frames).at(-1)).toMatchObject({ code: 'internal' });
    expect(inbox.socket.closed).toBeNull();
    inbox.close();
    await evictDurableObject(stub);
  });

  it('an ack from a device revoked meanwhile is refused with device_revoked, and its socket closes with 4004', async () => {
    const alice = await registerUser('alice');
    const phone = await secondDevice(alice, 'phone');
    const inbox = await openInbox(phone);
    const stub = env.USERS.getByName(alice.user.id);
    // Revoked in storage only, so the socket is still open when its next frame arrives.
    await runInDurableObject(stub, (_i, state) => state.storage.sql.exec('UPDATE devices SET revoked_at = ? WHERE device_id = ?', Date.now(), phone.deviceId));
    inbox.ack(0);
    expect((await inbox.socket.waitClosed(2_000)).code).toBe(4004);
    expect(errors(inbox.frames).at(-1)).toMatchObject({ code: 'device_revoked' });
  });
});

describe('a message deleted within one fan-out batch', () => {
  it('is queued as a tombstone, without its content, and so are its edits', async () => {
    const alice = await registerUser('alice');
    const stub = env.USERS.getByName(alice.user.id);
    unwrap(await stub.readEvents(alice.deviceId, 0));
    const author = { userId: 'u_sender', deviceId: 'd_sender' };
    const ts = Date.now();
    const events: ConversationEvent[] = [
      { seq: 1, ts, author, type: 'message', cmid: 'cmid-00000001', content: { type: 'text', text: 'take this back' } },
      { seq: 2, ts, author, type: 'message_edited', targetSeq: 1, content: { type: 'text', text: 'take this back, edited' } },
      { seq: 3, ts, author, type: 'message_deleted', targetSeq: 1, scope: 'moderated' },
    ];
    await stub.apply([{ type: 'events', conversationId: 'g_batch', conversationKind: 'group', events }]);
    const page = unwrap(await stub.readEvents(alice.deviceId, 0));
    expect(page.events).toHaveLength(3);
    expect(JSON.stringify(page.events)).not.toContain('take this back');
    // The message is queued as history shows it: a tombstone.
    const message = page.events.find((e) => e.kind === 'event' && e.event.seq === 1);
    expect(message?.kind === 'event' && message.event.type === 'message' && message.event.deleted).toEqual({ scope: 'moderated', seq: 3, at: ts, by: 'u_sender' });
  });
});
