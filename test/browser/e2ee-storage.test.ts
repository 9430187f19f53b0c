/**
 * IndexedDbE2eeStorage against a real IndexedDB (Debian's Chromium; node_modules has no
 * fake IndexedDB): the SDK's storage module, bundled by vite, runs in a page of a
 * synthetic origin served by Playwright's router (no server). Two devices start a pairwise
 * session and a sender-key chain through their stores; a second storage object (a reload)
 * opens the same state and both ratchets go on; a used one-time prekey is gone; the
 * E2eeMemory keeps a key-only message (null) apart from an unknown one (undefined);
 * `clear()` deletes one device's database and `clearOthers()` the rest.
 */
import { resolve } from 'node:path';
import { build } from 'vite';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { E2ee } from '../../src/client/e2ee/protocol.js';
import type { generateDeviceKeys } from '../../src/client/e2ee/device.js';
import type { IndexedDbE2eeStorage } from '../../src/client/e2ee/indexeddb.js';
import type { bundleOf } from '../client/e2ee/helpers.js';
import { launchChromium } from './helpers.js';

/** What the bundle puts on `window.e2eeStorageTest`. */
interface Lib {
  IndexedDbE2eeStorage: typeof IndexedDbE2eeStorage;
  generateDeviceKeys: typeof generateDeviceKeys;
  E2ee: typeof E2ee;
  bundleOf: typeof bundleOf;
}

const ORIGIN = 'http://e2ee-storage.test';

/** The storage, keys, the protocol and a bundle maker (./e2ee-storage-entry.ts), as `window.e2eeStorageTest`, by vite. */
async function bundle(): Promise<string> {
  const out = (await build({
    configFile: false,
    logLevel: 'silent',
    build: {
      write: false,
      minify: false,
      lib: { entry: resolve(import.meta.dirname, 'e2ee-storage-entry.ts'), formats: ['iife'], name: 'e2eeStorageTest', fileName: 'e2ee-storage' },
    },
  })) as { output: { type: string; code?: string }[] }[] | { output: { type: string; code?: string }[] };
  const chunk = (Array.isArray(out) ? out[0]! : out).output.find((o) => o.type === 'chunk');
  return chunk!.code!;
}

let browser: Browser;
let script: string;

beforeAll(async () => {
  [browser, script] = await Promise.all([launchChromium(), bundle()]);
});

afterAll(async () => {
  await browser?.close();
});

describe('IndexedDbE2eeStorage in Chromium', () => {
  it('keeps sessions, sender keys and memory across a reopen, and clear() deletes a device', async () => {
    const context = await browser.newContext();
    await context.route(`${ORIGIN}/**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>storage</title>' }));
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${ORIGIN}/`);
    await page.addScriptTag({ content: script });

    const result = await page.evaluate(async () => {
      const t = (window as unknown as { e2eeStorageTest: Lib }).e2eeStorageTest;
      const enc = (s: string) => new TextEncoder().encode(s);
      const dec = (b: Uint8Array) => new TextDecoder().decode(b);
      const A = { userId: 'alice', deviceId: 'a1' };
      const B = { userId: 'bob', deviceId: 'b1' };
      const prefix = 'test-e2ee';
      const names = async () => (await indexedDB.databases()).flatMap((d) => (d.name?.startsWith(`${prefix}:`) ? [d.name] : [])).sort();

      const first = new t.IndexedDbE2eeStorage(prefix);
      const unknownBefore = (await first.open(A)) === null;
      const aKeys = t.generateDeviceKeys({ preKeys: 3, kyberPreKeys: 2 });
      const bKeys = t.generateDeviceKeys({ preKeys: 3, kyberPreKeys: 2 });
      let a = await first.create(A, aKeys);
      let b = await first.create(B, bKeys);
      const e = (state: typeof a, self: typeof A) => new t.E2ee({ store: state.store, localAddress: self });

      // A pairwise session (PQXDH, then the ratchet) and a sender-key chain, through the stores.
      await e(a, A).processPreKeyBundle(B, t.bundleOf({ keys: bKeys } as never));
      const m1 = await e(a, A).encrypt(B, enc('one'));
      const read1 = dec(await e(b, B).decrypt(A, m1.kind, m1.data));
      const preKeyGone = (await b.store.loadPreKey(bKeys.preKeys[0]!.keyId)) === undefined;
      await e(b, B).processDistribution('g1', A, await e(a, A).createDistribution('g1'));
      const g1 = await e(a, A).groupEncrypt('g1', enc('group one'));
      const readG1 = dec(await e(b, B).groupDecrypt('g1', A, g1));

      // A reload: another storage object opens the same databases; both ratchets go on.
      const second = new t.IndexedDbE2eeStorage(prefix);
      a = (await second.open(A))!;
      b = (await second.open(B))!;
      const sameIdentity = (await a.store.getIdentityKeyPair()).publicKey.join() === aKeys.identity.publicKey.join();
      const sameRegistration = (await b.store.getLocalRegistrationId()) === bKeys.registrationId;
      const m2 = await e(b, B).encrypt(A, enc('two'));
      const read2 = dec(await e(a, A).decrypt(B, m2.kind, m2.data));
      const m3 = await e(a, A).encrypt(B, enc('three'));
      const read3 = dec(await e(b, B).decrypt(A, m3.kind, m3.data));
      const g2 = await e(a, A).groupEncrypt('g1', enc('group two'));
      const readG2 = dec(await e(b, B).groupDecrypt('g1', A, g2));
      const trusted = (await a.store.getIdentity(B))?.identityKey.join() === bKeys.identity.publicKey.join();

      // What the device remembers of its conversations.
      await a.memory.putContent('c1', '5', null);
      await a.memory.putContent('c1', '6', { type: 'text', text: 'kept' });
      await a.memory.setDistribution('c1', { since: 3, devices: ['bob/b1'] });
      await a.memory.setCounter('nextPreKeyId', 42);
      const reopened = (await new t.IndexedDbE2eeStorage(prefix).open(A))!;
      const memory = {
        keyOnly: await reopened.memory.getContent('c1', '5'),
        text: await reopened.memory.getContent('c1', '6'),
        unknown: await reopened.memory.getContent('c1', '7'),
        otherConversation: await reopened.memory.getContent('c2', '6'),
        distribution: await reopened.memory.getDistribution('c1'),
        counter: await reopened.memory.getCounter('nextPreKeyId'),
      };
      await reopened.memory.setDistribution('c1', null);
      const distributionDropped = (await reopened.memory.getDistribution('c1')) === null;

      const before = await names();
      await second.clear(A);
      const afterClear = await names();
      const removed = await second.clearOthers(null);
      const afterOthers = await names();
      return { unknownBefore, read1, preKeyGone, readG1, sameIdentity, sameRegistration, read2, read3, readG2, trusted, memory, distributionDropped, before, afterClear, removed, afterOthers };
    });

    expect(result).toEqual({
      unknownBefore: true,
      read1: 'one',
      preKeyGone: true,
      readG1: 'group one',
      sameIdentity: true,
      sameRegistration: true,
      read2: 'two',
      read3: 'three',
      readG2: 'group two',
      trusted: true,
      memory: { keyOnly: null, text: { type: 'text', text: 'kept' }, unknown: undefined, otherConversation: undefined, distribution: { since: 3, devices: ['bob/b1'] }, counter: 42 },
      distributionDropped: true,
      before: ['test-e2ee:alice:a1', 'test-e2ee:bob:b1'],
      afterClear: ['test-e2ee:bob:b1'],
      removed: ['test-e2ee:bob:b1'],
      afterOthers: [],
    });
    expect(errors).toEqual([]);
    await context.close();
  });
});
