/**
 * @module auth/passwords
 * Password hashing with scrypt (memory-hard) through node:crypto, which workerd
 * provides under `nodejs_compat`. The parameters are stored beside each hash, so they
 * can be raised for new passwords without breaking old ones.
 */
import { scrypt, timingSafeEqual } from 'node:crypto';
import { base64url } from '../ids.js';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  keyLength: number;
}

/** N=2^14, r=8 uses 16 MiB per hash; p=5 multiplies the time, not the memory. */
export const SCRYPT_PARAMS: ScryptParams = { N: 2 ** 14, r: 8, p: 5, keyLength: 32 };

export interface PasswordHash {
  hash: string;
  salt: string;
  params: ScryptParams;
}

function derive(password: string, salt: Uint8Array, params: ScryptParams): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize('NFKC'),
      salt,
      params.keyLength,
      { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r },
      (err, key) => (err ? reject(err) : resolve(new Uint8Array(key))),
    );
  });
}

export async function hashPassword(password: string, params: ScryptParams = SCRYPT_PARAMS): Promise<PasswordHash> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const key = await derive(password, salt, params);
  return { hash: base64url(key), salt: base64url(salt), params };
}

function fromBase64url(text: string): Uint8Array {
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const expected = fromBase64url(stored.hash);
  const actual = await derive(password, fromBase64url(stored.salt), stored.params);
  return actual.byteLength === expected.byteLength && timingSafeEqual(actual, expected);
}

/**
 * A hash of nothing, verified against when the handle does not exist, so an unknown
 * handle takes as long as a wrong password and the two cannot be told apart.
 */
let decoy: Promise<PasswordHash> | undefined;
export function decoyHash(): Promise<PasswordHash> {
  decoy ??= hashPassword(randomDecoyPassword());
  return decoy;
}

function randomDecoyPassword(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(18)));
}
