/**
 * @module bench/e2ee-sdk
 * The SDK's end-to-end encryption (src/client/e2ee/) for the bench's Node processes, and
 * conversations of SDK devices brought to their steady state, for the crypto
 * micro-benchmark (bench/e2ee-crypto.mjs) and the envelopes of the send-path shape
 * (bench/shapes/e2ee.mjs).
 *
 * Node cannot import the TypeScript sources as they are (they import `./x.js` for
 * `./x.ts`), so `loadSdk()` bundles them with esbuild (what wrangler bundles with) into
 * bench/.state/e2ee-sdk.mjs once per process; nothing in src/ changes for it. The key
 * directory is a stand-in in memory (`BenchDirectory`): device lists and bundles as the
 * server hands them out, without the network, so only the SDK's own work is timed.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'bench/.state/e2ee-sdk.mjs');

/** What the bench uses of the SDK: the public e2ee module, the envelope layer (not exported by it), and the AES-GCM the envelope seals with. */
const ENTRY = `
export * from './src/client/e2ee/index.ts';
export { Messenger, MemoryE2eeMemory } from './src/client/e2ee/messenger.ts';
export { encodePayload, decodePayload, sealBody, openBody, PADDING_BLOCK } from './src/client/e2ee/payload.ts';
export { gcm } from '@noble/ciphers/aes.js';
`;

let loading = null;

/** The bundled SDK module (built on first use in this process). */
export function loadSdk() {
  loading ??= (async () => {
    const { build } = await import('esbuild');
    mkdirSync(dirname(OUT), { recursive: true });
    await build({
      stdin: { contents: ENTRY, resolveDir: ROOT, loader: 'ts' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node22',
      outfile: OUT,
      logLevel: 'error',
    });
    // A query per process: a second build in the same process would otherwise hit the module cache.
    return import(`${pathToFileURL(OUT).href}?t=${Date.now()}`);
  })();
  return loading;
}

/** A device with its keys in an in-memory store; `counts`: one-time prekeys of each kind. */
export async function benchDevice(sdk, address, counts = { preKeys: 4, kyberPreKeys: 2 }) {
  const keys = sdk.generateDeviceKeys(counts);
  const store = await sdk.inMemoryDevice(keys);
  return { address, keys, store, e2ee: new sdk.E2ee({ store, localAddress: address }), taken: 0 };
}

/** The bundle the key directory's claim would hand out for `d`: its next one-time keys (the last-resort Kyber key once none is left). */
export function claimBundle(d) {
  const k = d.keys;
  const take = d.taken++;
  const preKey = k.preKeys[take];
  const kyber = k.kyberPreKeys[take] ?? k.lastResortKyberPreKey;
  return {
    registrationId: k.registrationId,
    identityKey: k.identity.publicKey,
    signedPreKeyId: k.signedPreKey.keyId,
    signedPreKey: k.signedPreKey.keyPair.publicKey,
    signedPreKeySignature: k.signedPreKey.signature,
    kyberPreKeyId: kyber.keyId,
    kyberPreKey: kyber.keyPair.publicKey,
    kyberPreKeySignature: kyber.signature,
    preKeyId: preKey?.keyId,
    preKey: preKey?.keyPair.publicKey,
  };
}

/** The key directory as the Messenger uses it (client/e2ee/directory.ts), over devices in memory. */
export class BenchDirectory {
  #devices = new Map();

  add(device) {
    const list = this.#devices.get(device.address.userId) ?? [];
    list.push(device);
    this.#devices.set(device.address.userId, list);
  }

  async devices(userId) {
    return { userId, version: 1, devices: (this.#devices.get(userId) ?? []).map((d) => ({ deviceId: d.address.deviceId })) };
  }

  noteChanged() {}

  async claim(userId, deviceIds) {
    const list = (this.#devices.get(userId) ?? []).filter((d) => !deviceIds || deviceIds.includes(d.address.deviceId));
    return { userId, version: 1, bundles: list.map((d) => ({ ...claimBundle(d), deviceId: d.address.deviceId })) };
  }
}

/** A short text as an app sends it: a realistic chat line (payloads pad to 160 bytes anyway). */
export const SHORT_TEXT = 'On my way, see you at the station in ten minutes';

/**
 * An encrypted conversation of SDK devices, in its steady state: every session started
 * and answered (entries are plain Double Ratchet messages, not prekey messages) and, in a
 * group, the sender's key already with every device (envelopes carry no entries).
 *
 * @param {object} spec
 * @param {'direct' | 'group'} spec.kind direct: the pairwise scheme; group: Sender Keys
 * @param {Array<{ userId: string, deviceIds: string[] }>} spec.members the sender is the first device of the first member
 * @returns {Promise<{ target, sender, devices, send: (text?: string) => Promise<object>, open: (device, envelope) => Promise<object> }>}
 */
export async function steadyConversation(sdk, { id, kind, members }) {
  const directory = new BenchDirectory();
  const devices = [];
  for (const { userId, deviceIds } of members) {
    for (const deviceId of deviceIds) {
      const d = await benchDevice(sdk, { userId, deviceId });
      d.memory = new sdk.MemoryE2eeMemory();
      d.messenger = new sdk.Messenger(d.address, directory, d.e2ee, d.memory);
      directory.add(d);
      devices.push(d);
    }
  }
  const [sender, ...recipients] = devices;
  const target = { id, kind, memberIds: members.map((m) => m.userId) };
  let seq = 0;
  const send = async (text = SHORT_TEXT) => (await sender.messenger.encrypt(target, { type: 'text', text })).content;
  const open = (device, envelope) => device.messenger.decrypt(id, ++seq, sender.address, envelope);

  // The first message starts every session (prekey entries) and, in a group, hands out the sender key.
  const first = await sender.messenger.encrypt(target, { type: 'text', text: 'hello' });
  for (const d of recipients) await open(d, first.content);
  await sender.messenger.noteDistributed(id, first.distributedTo, seq);
  // Each device answers in its session, so the sender's next entries are no longer prekey messages.
  for (const d of recipients) {
    const reply = await d.e2ee.encrypt(sender.address, sdk.utf8('ok'));
    await sender.e2ee.decrypt(d.address, reply.kind, reply.data);
  }
  // Past the ratchet step the answers caused: from here on every message is like the next.
  for (let i = 0; i < 2; i++) {
    const envelope = await send();
    for (const d of recipients) await open(d, envelope);
  }
  const envelope = await send();
  const steady = envelope.entries.every((e) => e.kind === 'message') && (kind === 'direct' ? envelope.entries.length === recipients.length : envelope.entries.length === 0);
  if (!steady) throw new Error(`${id}: not in the steady state after set-up (${envelope.entries.length} entries: ${envelope.entries.map((e) => e.kind).join(', ')})`);
  for (const d of recipients) await open(d, envelope);
  return { target, sender, recipients, devices, send, open };
}
