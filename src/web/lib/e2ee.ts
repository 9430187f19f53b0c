/**
 * @module web/lib/e2ee
 * End-to-end encryption for the signed-in device (docs/E2E.md): turned on after sign-in
 * and after every reload, with the device's keys and sessions in IndexedDB (the SDK's
 * IndexedDbE2eeStorage), so a reload is the same device. Encrypted conversations open only
 * once it is on (`encryptionReady()`): opened before, they could neither read nor send.
 * Turning it on asks the service once (its prekey stock), so offline it waits for the
 * network and tries again. Sign-out deletes the device's keys from the browser.
 *
 * Also here: a user's devices (the key directory, for the safety-number screen) and
 * whether this device marked one verified.
 */
import { useEffect, useState } from 'preact/hooks';
import { IndexedDbE2eeStorage } from '../../client/index.js';
import { DeviceList } from '../../protocol/index.js';
import { errorText } from './errors.js';
import { client } from './session.js';

export const e2eeStorage = new IndexedDbE2eeStorage();

/** Waits before trying to turn encryption on again (the last one repeats); an `online` event tries at once. */
export const ENCRYPTION_RETRY_MS = [1_000, 2_000, 5_000, 10_000];

export type EncryptionStatus = { state: 'off' } | { state: 'starting'; error?: string } | { state: 'ready' };

let status: EncryptionStatus = { state: 'off' };
const listeners = new Set<(status: EncryptionStatus) => void>();
/** The device being set up (`userId/deviceId`) and the promise that resolves once it is on. */
let current: { device: string; ready: Promise<void>; cancel: () => void } | null = null;

function setStatus(next: EncryptionStatus): void {
  status = next;
  for (const listener of listeners) listener(next);
}

/**
 * Turns encryption on for the signed-in device, trying until it works (or the session
 * changes); resolves once it is on. Idempotent: every caller gets the same promise.
 */
export function encryptionReady(): Promise<void> {
  const session = client.session;
  if (!session) return Promise.reject(new Error('Not signed in.'));
  const device = `${session.user.id}/${session.deviceId}`;
  if (current?.device === device) return current.ready;
  current?.cancel();
  let cancelled = false;
  let wake: (() => void) | null = null;
  const ready = (async () => {
    setStatus({ state: 'starting' });
    for (let attempt = 0; ; attempt++) {
      if (cancelled) throw new Error('Signed out.');
      try {
        await client.enableEncryption(e2eeStorage);
        if (!cancelled) setStatus({ state: 'ready' });
        // Devices of this browser signed out elsewhere (revoked, session expired) leave keys behind.
        void e2eeStorage.clearOthers({ userId: session.user.id, deviceId: session.deviceId }).catch(() => undefined);
        return;
      } catch (error) {
        if (cancelled) throw error;
        setStatus({ state: 'starting', error: errorText(error) });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, ENCRYPTION_RETRY_MS[Math.min(attempt, ENCRYPTION_RETRY_MS.length - 1)]);
          function done() {
            clearTimeout(timer);
            window.removeEventListener('online', done);
            wake = null;
            resolve();
          }
          wake = done;
          window.addEventListener('online', done);
        });
      }
    }
  })();
  ready.catch(() => undefined);
  current = {
    device,
    ready,
    cancel: () => {
      cancelled = true;
      wake?.();
    },
  };
  return ready;
}

/**
 * A session that ends without "Sign out" (the device was revoked elsewhere: its refresh is
 * refused) takes the device's keys with it too: they can open nothing new.
 */
let signedIn = client.session ? { userId: client.session.user.id, deviceId: client.session.deviceId } : null;
client.on('session', (session) => {
  if (session) {
    signedIn = { userId: session.user.id, deviceId: session.deviceId };
    return;
  }
  current?.cancel();
  current = null;
  setStatus({ state: 'off' });
  if (signedIn) void e2eeStorage.clear(signedIn).catch(() => undefined);
  signedIn = null;
});

/** Where turning encryption on stands now. */
export function encryptionStatus(): EncryptionStatus {
  return status;
}

/** Where turning encryption on stands, for a note in encrypted chats while it is not on yet. */
export function useEncryptionStatus(): EncryptionStatus {
  const [shown, setShown] = useState(status);
  useEffect(() => {
    listeners.add(setShown);
    setShown(status);
    return () => void listeners.delete(setShown);
  }, []);
  return shown;
}

/**
 * Signs this device out and deletes its keys, sessions and remembered plaintext from the
 * browser (also when the service could not be told: the session is gone either way).
 */
export async function signOutWithKeys(): Promise<void> {
  const session = client.session;
  current?.cancel();
  current = null;
  setStatus({ state: 'off' });
  try {
    await client.logout();
  } finally {
    if (session) await e2eeStorage.clear({ userId: session.user.id, deviceId: session.deviceId }).catch(() => undefined);
  }
}

/** A user's devices that hold keys, from the key directory (`GET /v1/users/:userId/keys`). */
export async function devicesOf(userId: string): Promise<DeviceList> {
  const response = await fetch(`/v1/users/${encodeURIComponent(userId)}/keys`, { headers: { authorization: `Bearer ${await client.accessToken()}` } });
  if (!response.ok) throw new Error(`Could not read the devices (${response.status}).`);
  return DeviceList.parse(await response.json());
}

/** Whether this device marked `userId`'s device `deviceId` verified (false when it has no session with it). */
export async function isVerified(userId: string, deviceId: string): Promise<boolean> {
  const session = client.session;
  if (!session) return false;
  const state = await e2eeStorage.open({ userId: session.user.id, deviceId: session.deviceId });
  return (await state?.store.getIdentity({ userId, deviceId }))?.verified ?? false;
}
