/**
 * Sockets opened with the access token as a subprotocol (`edge-chat.v1, bearer.<token>`)
 * instead of a ticket: the chat window and the inbox open in one round trip and answer
 * `edge-chat.v1`; a bad token, a missing `edge-chat.v1` and a signed-out device are
 * refused with the frame and close code a ticket's refusal gets. The Worker's standing
 * is its isolate's cache, so the object holding the socket must not take it: a device
 * revoked where only the UserDO knows, in a conversation evicted since (its memory of the
 * revocation gone), is still refused.
 */
import { describe, expect, it } from 'vitest';
import { env, exports } from 'cloudflare:workers';
import { evictDurableObject } from 'cloudflare:test';
import { BASE, TestSocket, createGroup, json, quietPeriod, registerUser } from './helpers.js';
import { Inbox, secondDevice, text } from './inbox-helpers.js';
import { CLOSE_CODES, WS_BEARER_PREFIX, WS_SUBPROTOCOL, type Session } from '../../src/protocol/index.js';
import { WINDOWS_PER_DEVICE } from '../../src/ratelimit/rules.js';

async function bearerUpgrade(path: string, protocols: string[]): Promise<{ socket: TestSocket; protocol: string | null }> {
  const res = await exports.default.fetch(`${BASE}${path}`, { headers: { upgrade: 'websocket', 'sec-websocket-protocol': protocols.join(', ') } });
  expect(res.status, `upgrade ${path}`).toBe(101);
  const ws = res.webSocket!;
  const socket = new TestSocket(ws);
  ws.accept();
  return { socket, protocol: res.headers.get('sec-websocket-protocol') };
}

const asBearer = (s: Session) => [WS_SUBPROTOCOL, `${WS_BEARER_PREFIX}${s.accessToken}`];

describe('a socket opened with a bearer subprotocol', () => {
  it('opens a chat window and an inbox in one round trip, answering edge-chat.v1, never the token', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    const { socket, protocol: inboxProtocol } = await bearerUpgrade('/v1/inbox/ws', asBearer(bob));
    expect(inboxProtocol).toBe(WS_SUBPROTOCOL);
    const inbox = new Inbox(socket);
    await inbox.until(() => inbox.frames.some((f) => f.type === 'caught_up'), 'caught_up');
    const { socket: window, protocol } = await bearerUpgrade(`/v1/conversations/${id}/ws`, asBearer(alice));
    expect(protocol).toBe(WS_SUBPROTOCOL);
    expect(await window.next('ready')).toMatchObject({ userId: alice.user.id, deviceId: alice.deviceId });
    window.send({ type: 'send', rid: 'r1', cmid: crypto.randomUUID(), content: text('over a bearer socket') });
    const { seq } = await window.next('ack', (f) => f.rid === 'r1');
    await inbox.until(() => inbox.seqs(id).includes(seq), 'the message in the inbox');
    window.close();
    inbox.close();
  });

  it('refuses a bad token, a bearer without edge-chat.v1, and a signed-out device, each with a clear frame and code', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    const cases: [string, string[], string, number][] = [
      ['a made-up token', [WS_SUBPROTOCOL, `${WS_BEARER_PREFIX}not.a.token`], 'invalid_token', CLOSE_CODES.unauthenticated],
      ['no edge-chat.v1', [`${WS_BEARER_PREFIX}${alice.accessToken}`], 'invalid_request', CLOSE_CODES.unauthenticated],
    ];
    for (const [name, protocols, code, close] of cases) {
      const { socket } = await bearerUpgrade(`/v1/conversations/${id}/ws`, protocols);
      expect((await socket.next('error')).code, name).toBe(code);
      expect((await socket.waitClosed()).code, name).toBe(close);
    }
    const phone = await secondDevice(alice, 'phone');
    await json(`/v1/devices/${phone.deviceId}`, { token: alice.accessToken, method: 'DELETE' }, 204);
    const { socket: revoked, protocol } = await bearerUpgrade(`/v1/conversations/${id}/ws`, asBearer(phone));
    expect(protocol).toBe(WS_SUBPROTOCOL);
    expect((await revoked.next('error')).code).toBe('device_revoked');
    expect((await revoked.waitClosed()).code).toBe(CLOSE_CODES.deviceRevoked);
  });

  it('the conversation does not take the Worker\'s cached standing: a device revoked at its UserDO alone is refused after an eviction', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    const phone = await secondDevice(bob, 'phone');
    // The Worker's cache learns the phone is active, then only the UserDO hears it is not
    // (as when another isolate signed it out).
    await json(`/v1/conversations/${id}`, { token: phone.accessToken }, 200);
    await env.USERS.getByName(bob.user.id).forgetDevice(phone.deviceId);
    await quietPeriod(200);
    // The conversation's memory of the pushed revocation goes with an eviction.
    await evictDurableObject(env.CONVERSATIONS.getByName(id));
    const { socket } = await bearerUpgrade(`/v1/conversations/${id}/ws`, asBearer(phone));
    expect((await socket.next('error')).code).toBe('device_revoked');
    expect((await socket.waitClosed()).code).toBe(CLOSE_CODES.deviceRevoked);
  });
});

describe('a device\'s windows on one conversation', () => {
  it('are at most WINDOWS_PER_DEVICE for the tier (8 for a new account): one more closes one of the others with 4009, and the rest stay', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createGroup(alice, [bob]);
    const windows: TestSocket[] = [];
    for (let i = 0; i <= WINDOWS_PER_DEVICE.new; i++) {
      const { socket } = await bearerUpgrade(`/v1/conversations/${id}/ws`, asBearer(alice));
      await socket.next('ready');
      windows.push(socket);
    }
    await quietPeriod(100);
    const closed = windows.filter((w) => w.closed !== null);
    expect(closed.map((w) => w.closed!.code)).toEqual([CLOSE_CODES.replaced]);
    expect(windows.at(-1)!.closed).toBeNull();
    // Another device of the same user is not counted against this one.
    const phone = await secondDevice(alice, 'phone');
    const { socket: other } = await bearerUpgrade(`/v1/conversations/${id}/ws`, asBearer(phone));
    await other.next('ready');
    await quietPeriod(100);
    expect(windows.filter((w) => w.closed !== null)).toHaveLength(1);
    for (const w of [...windows, other]) w.close();
  });
});
