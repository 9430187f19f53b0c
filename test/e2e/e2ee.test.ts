/**
 * End-to-end encryption over a real `wrangler dev` with the real SDK: three users with two
 * devices each exchange direct and group messages; every message reads as sent on every
 * intended device; a device that joins later reads only what follows; a removed member's
 * keys open nothing sent after the removal; a signed-out device leaves the recipients; a
 * session lost on one side repairs itself; and the server's whole state on disk (D1, R2,
 * every object's SQLite) holds none of the text.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient, InMemoryProtocolStore, MemoryE2eeStorage, type ConversationEvent, type ConversationHandle, type MessageEvent } from '../../src/client/index.js';
import type { Json } from '../../src/client/e2ee/serialize.js';
import { fromBase64url, toBase64url } from '../../src/client/e2ee/bytes.js';
import { downloadEncryptedMedia, encryptedMediaContent, encryptedMediaRefOf, uploadEncryptedMedia, type MediaClientOptions } from '../../src/client/media.js';
import { E2ee } from '../../src/client/e2ee/protocol.js';
import type { DeviceList, EncryptedContent } from '../../src/protocol/index.js';
import { startWrangler, type Wrangler } from './wrangler.js';
import { textOf, until } from './exchange.js';

const PORT = 8980;
const PASSWORD = 'correct horse battery';
let server: Wrangler;
/** Every text sent in this file: none may be found in the server's state. */
const sent: string[] = [];

beforeAll(async () => {
  server = await startWrangler(PORT);
}, 90_000);

afterAll(async () => {
  await server?.stop();
});

interface Device {
  client: ChatClient;
  storage: MemoryE2eeStorage;
  userId: string;
  deviceId: string;
  handle: string;
}

async function device(handle: string, register: boolean): Promise<Device> {
  const client = new ChatClient({ baseUrl: server.url, backoff: { initialDelayMs: 50, maxDelayMs: 400 }, requestTimeoutMs: 5_000 });
  const session = register
    ? await client.register({ handle, displayName: handle, password: PASSWORD, deviceName: 'first' })
    : await client.login({ handle, password: PASSWORD, deviceName: 'another' });
  const storage = new MemoryE2eeStorage();
  await client.enableEncryption(storage);
  return { client, storage, userId: session.user.id, deviceId: session.deviceId, handle };
}

/** A user with two devices, both with encryption on. */
async function person(name: string): Promise<[Device, Device]> {
  const handle = `${name}_${crypto.randomUUID().slice(0, 8)}`;
  const first = await device(handle, true);
  return [first, await device(handle, false)];
}

function secret(label: string): string {
  const text = `${label} ${crypto.randomUUID()}`;
  sent.push(text);
  return text;
}

interface Open {
  chat: ConversationHandle;
  events: ConversationEvent[];
  messages: MessageEvent[];
  undecryptable: number[];
}

async function open(d: Device, conversationId: string): Promise<Open> {
  const chat = await d.client.open(conversationId);
  const events: ConversationEvent[] = [];
  const messages: MessageEvent[] = [];
  const undecryptable: number[] = [];
  chat.on('event', (e) => events.push(e));
  chat.on('message', (m) => messages.push(m));
  d.client.on('undecryptable', (n) => n.conversationId === conversationId && undecryptable.push(n.seq));
  await until(() => chat.status === 'open', 10_000, `${d.handle} to open`);
  return { chat, events, messages, undecryptable };
}

const texts = (o: Open) => o.messages.map(textOf);
const mediaClient = (d: Device): MediaClientOptions => ({ baseUrl: server.url, token: () => d.client.accessToken(), useXhr: false });
const sawDevicesChanged = (o: Open, deviceId: string) => o.events.some((e) => e.type === 'devices_changed' && e.author.deviceId === deviceId);

async function deviceList(d: Device, userId: string): Promise<DeviceList> {
  const res = await fetch(`${server.url}/v1/users/${userId}/keys`, { headers: { authorization: `Bearer ${await d.client.accessToken()}` } });
  return (await res.json()) as DeviceList;
}

/** The envelope of message `seq` exactly as `d` is served it over HTTP (its own entry only). */
async function envelopeAt(d: Device, conversationId: string, seq: number): Promise<EncryptedContent> {
  const token = await d.client.accessToken();
  const res = await fetch(`${server.url}/v1/conversations/${conversationId}/events?after=${seq - 1}&limit=1`, { headers: { authorization: `Bearer ${token}` } });
  const page = (await res.json()) as { events: MessageEvent[] };
  const content = page.events[0]?.content;
  if (content?.type !== 'encrypted') throw new Error(`seq ${seq} is not an envelope`);
  return content;
}

describe('end-to-end encryption over wrangler dev', () => {
  let alice: [Device, Device];
  let bob: [Device, Device];
  let carol: [Device, Device];

  beforeAll(async () => {
    [alice, bob, carol] = await Promise.all([person('alice'), person('bob'), person('carol')]);
  }, 60_000);

  it('a direct conversation: each message reads as sent on the peer devices and the sender’s other device', async () => {
    const conversation = await alice[0].client.createDirect(bob[0].userId, { encrypted: true });
    expect(conversation.encrypted).toBe(true);
    const views = await Promise.all([...alice, ...bob].map((d) => open(d, conversation.id)));
    const [a1, a2, b1, b2] = views;
    const fromAlice = [secret('alice 1'), secret('alice 2'), secret('alice 3')];
    for (const text of fromAlice) await a1!.chat.send(text);
    const fromBob = secret('bob 1');
    await b2!.chat.send(fromBob);
    const all = [...fromAlice, fromBob];
    await until(() => views.every((v) => v.messages.length === all.length), 15_000, 'every device to read all four');
    for (const view of views) expect(texts(view)).toEqual(all);
    for (const view of views) expect(view.undecryptable).toEqual([]);
    // The server served each device its own entry: Bob's first device got one, for itself.
    const envelope = await envelopeAt(bob[0], conversation.id, a1!.messages[0]!.seq);
    expect(envelope.scheme).toBe('pairwise');
    expect(envelope.entries.map((e) => e.deviceId)).toEqual([bob[0].deviceId]);
    // Media: only ciphertext is uploaded; the key travels inside the encrypted message.
    const marker = secret('image bytes');
    const image = new TextEncoder().encode(`not really a PNG: ${marker}`) as Uint8Array<ArrayBuffer>;
    const ref = await uploadEncryptedMedia(mediaClient(alice[0]), image, { conversationId: conversation.id, contentType: 'image/png' });
    await a1!.chat.send(encryptedMediaContent(ref, secret('a caption')));
    await until(() => b2!.messages.length === all.length + 1, 10_000, 'bob to get the media message');
    const received = b2!.messages.at(-1)!.content;
    expect(received?.type).toBe('media');
    const got = received?.type === 'media' ? encryptedMediaRefOf(received) : null;
    expect(got?.contentType).toBe('image/png');
    expect(new TextDecoder().decode(await downloadEncryptedMedia(mediaClient(bob[1]), got!))).toBe(`not really a PNG: ${marker}`);
    // Carol is no member: she cannot open it.
    await expect(carol[0].client.conversation(conversation.id)).rejects.toMatchObject({ code: 'conversation_not_found' });
    for (const v of [a1, a2, b1, b2]) v!.chat.close();
  }, 60_000);

  it('a group: Sender Keys, then a later device, a removal and a sign-out', async () => {
    const group = await alice[0].client.createGroup('encrypted', [bob[0].userId, carol[0].userId], { encrypted: true });
    const views = await Promise.all([...alice, ...bob, ...carol].map((d) => open(d, group.id)));
    const first = [secret('group from alice'), secret('group from bob'), secret('group from carol')];
    await views[0]!.chat.send(first[0]!);
    await views[3]!.chat.send(first[1]!);
    await views[4]!.chat.send(first[2]!);
    await until(() => views.every((v) => v.messages.length === 3), 15_000, 'every device to read the first three');
    for (const view of views) expect(texts(view)).toEqual(first);
    for (const view of views) expect(view.undecryptable).toEqual([]);
    expect((await envelopeAt(bob[0], group.id, views[0]!.messages[0]!.seq)).scheme).toBe('sender_key');

    // A third device of Bob's joins: it reads what is sent after it, and nothing from before.
    const b3 = await device(bob[0].handle, false);
    const late = await open(b3, group.id);
    await until(() => late.undecryptable.length === 3, 10_000, 'the earlier messages to be unreadable on the new device');
    const afterJoin = secret('after bob joined');
    await until(() => sawDevicesChanged(views[0]!, b3.deviceId), 10_000, 'alice to see the device list change');
    await views[0]!.chat.send(afterJoin);
    await until(() => texts(late).includes(afterJoin), 10_000, 'the new device to read what followed');

    // Carol is removed: her stored sender keys cannot open what Alice sends next.
    await alice[0].client.removeMember(group.id, carol[0].userId);
    await until(() => views[0]!.events.some((e) => e.type === 'member_removed' && e.userId === carol[0].userId), 10_000, 'alice to see the removal');
    const afterRemoval = secret('after carol left');
    await views[0]!.chat.send(afterRemoval);
    await until(() => texts(views[2]!).includes(afterRemoval), 10_000, 'bob to read it');
    const body = (await envelopeAt(bob[0], group.id, views[2]!.messages.at(-1)!.seq)).body;
    const carolState = await carol[0].storage.open({ userId: carol[0].userId, deviceId: carol[0].deviceId });
    const carolCipher = new E2ee({ store: carolState!.store, localAddress: { userId: carol[0].userId, deviceId: carol[0].deviceId } });
    await expect(carolCipher.groupDecrypt(group.id, { userId: alice[0].userId, deviceId: alice[0].deviceId }, fromBase64url(body))).rejects.toThrow();
    expect(texts(views[4]!)).not.toContain(afterRemoval);

    // Bob signs his second device out: it leaves his device list, and the rest still read.
    await bob[1].client.logout();
    await until(() => sawDevicesChanged(views[0]!, bob[1].deviceId), 10_000, 'alice to see the device list change');
    const list = await deviceList(alice[0], bob[0].userId);
    expect(list.devices.map((d) => d.deviceId).sort()).toEqual([bob[0].deviceId, b3.deviceId].sort());
    const afterSignOut = secret('after bob signed one device out');
    await views[0]!.chat.send(afterSignOut);
    await until(() => texts(views[2]!).includes(afterSignOut) && texts(late).includes(afterSignOut), 10_000, 'bob’s remaining devices to read it');
    for (const v of [...views, late]) v.chat.close();
  }, 90_000);

  it('repairs a broken session by itself: the device that cannot decrypt starts a new one, and what follows reads', async () => {
    const conversation = await alice[0].client.createDirect(bob[0].userId, { encrypted: true });
    const [a1, b1] = await Promise.all([open(alice[0], conversation.id), open(bob[0], conversation.id)]);
    const resets: string[] = [];
    alice[0].client.on('sessionReset', (n) => n.conversationId === conversation.id && resets.push(n.deviceId));
    const bobState = await bob[0].storage.open({ userId: bob[0].userId, deviceId: bob[0].deviceId });
    await bobState!.store.removeSession({ userId: alice[0].userId, deviceId: alice[0].deviceId });

    const lost = secret('lost to the broken session');
    const ack = await a1.chat.send(lost);
    await until(() => b1.undecryptable.includes(ack.seq), 10_000, 'bob to fail on it');
    await until(() => resets.includes(bob[0].deviceId), 10_000, 'alice to take bob’s new session');
    const repaired = secret('after the repair');
    await a1.chat.send(repaired);
    await until(() => texts(b1).includes(repaired), 10_000, 'bob to read what followed');
    expect(texts(b1)).not.toContain(lost);
    a1.chat.close();
    b1.chat.close();
  }, 60_000);

  it('never takes a verified contact’s new device silently: sends fail until it is accepted', async () => {
    const conversation = await alice[0].client.createDirect(carol[0].userId, { encrypted: true });
    const [a1, c1] = await Promise.all([open(alice[0], conversation.id), open(carol[0], conversation.id)]);
    await a1.chat.send(secret('before verifying'));
    const digits = (await alice[0].client.safetyNumber(carol[0].userId, carol[0].deviceId)).displayable;
    expect(digits).toMatch(/^\d{60}$/);
    expect((await carol[0].client.safetyNumber(alice[0].userId, alice[0].deviceId)).displayable).toBe(digits);
    await alice[0].client.setVerified(carol[0].userId, carol[0].deviceId);

    const c3 = await device(carol[0].handle, false);
    await until(() => sawDevicesChanged(a1, c3.deviceId), 10_000, 'alice to see carol’s new device');
    await expect(a1.chat.send(secret('refused'))).rejects.toMatchObject({ code: 'untrusted_identity' });
    await alice[0].client.acceptDevice(carol[0].userId, c3.deviceId);
    const accepted = secret('after accepting the device');
    await a1.chat.send(accepted);
    const c3view = await open(c3, conversation.id);
    await until(() => texts(c3view).includes(accepted) && texts(c1).includes(accepted), 10_000, 'carol’s devices to read it');
    for (const v of [a1, c1, c3view]) v.chat.close();
  }, 60_000);

  it('leaves no sent text and no key of any device anywhere in the server’s state (D1, R2, every object’s SQLite), where a plain text is found', async () => {
    // The control: the same search finds a text sent in a plain conversation.
    const plain = await alice[0].client.createDirect(bob[0].userId);
    const chat = await alice[0].client.open(plain.id);
    const control = `plain control ${crypto.randomUUID()}`;
    await chat.send(control);
    chat.close();
    await until(() => search([control]).length > 0, 10_000, 'the plain text to reach the disk');
    expect(sent.length).toBeGreaterThan(5);
    expect(search(sent)).toEqual([]);
    // Nor any device's secrets, in any encoding (raw, base64url, hex): its private identity
    // key, and every root, chain and sender key and message-key seed its sessions hold.
    const secrets: Uint8Array[] = [];
    for (const d of [...alice, ...bob, ...carol]) {
      const state = await d.storage.open({ userId: d.userId, deviceId: d.deviceId });
      const store = state!.store as InMemoryProtocolStore;
      secrets.push((await store.getIdentityKeyPair()).privateKey);
      for (const record of [...store.sessions.values(), ...store.senderKeys.values()]) secrets.push(...secretsIn(record));
    }
    expect(secrets.length).toBeGreaterThan(30);
    // The control: a public identity key, which the key directory does keep, is found.
    const alicePublic = (await (await alice[0].storage.open({ userId: alice[0].userId, deviceId: alice[0].deviceId }))!.store.getIdentityKeyPair()).publicKey;
    expect(searchRaw([toBase64url(alicePublic)])).not.toEqual([]);
    expect(searchRaw(secrets.flatMap((key) => [Buffer.from(key).toString('latin1'), toBase64url(key), Buffer.from(key).toString('hex')]))).toEqual([]);
  });
});

/** Fields of session and sender-key records that hold secrets (./src/client/e2ee/session.ts, sender-keys.ts). */
const SECRET_FIELDS = new Set(['rootKey', 'chainKey', 'privateKey', 'signingPrivateKey', 'seed']);

/** The secret byte strings in a stored record (bytes are `{ $b: base64url }` there). */
function secretsIn(json: Json, field = ''): Uint8Array[] {
  if (Array.isArray(json)) return json.flatMap((item) => secretsIn(item, field));
  if (json === null || typeof json !== 'object') return [];
  if (typeof json.$b === 'string') return SECRET_FIELDS.has(field) ? [fromBase64url(json.$b)] : [];
  return Object.entries(json).flatMap(([key, value]) => secretsIn(value, key));
}

/** Files of the server's state holding any of `texts` (or the random part of one). */
function search(texts: string[]): string[] {
  return searchRaw(texts.map((text) => text.split(' ').at(-1)!));
}

function searchRaw(needles: string[]): string[] {
  const found: string[] = [];
  for (const file of filesUnder(server.persist)) {
    const bytes = readFileSync(file).toString('latin1');
    needles.forEach((needle, i) => bytes.includes(needle) && found.push(`${file}: needle ${i}`));
  }
  return found;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}
