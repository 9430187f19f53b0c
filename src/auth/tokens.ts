/**
 * @module auth/tokens
 * Access tokens are short-lived HS256 JWTs naming a user and a device; connect tickets
 * are the same kind of token with another audience and a 30 s life, spent once at the
 * user's object (src/user/tickets.ts). Refresh tokens are random strings stored only as
 * SHA-256 hashes.
 */
import { SignJWT, jwtVerify, errors } from 'jose';
import { LIFETIMES } from '../limits.js';
import { AppError } from '../errors.js';
import type { Identity } from '../env.js';
import { ExpiringMap } from './expiring.js';

const ISSUER = 'edge-chat';
const AUDIENCE = 'edge-chat:access';
/** A ticket is never an access token, nor the other way round. */
const TICKET_AUDIENCE = 'edge-chat:connect';

/**
 * The HMAC key for `secret`, imported once per isolate: given raw bytes, jose imports a
 * CryptoKey on every sign and verify, which was a third of the cost of authenticating a
 * request (a long poll pays it on every poll).
 */
const keys = new Map<string, Promise<CryptoKey>>();

function key(secret: string): Promise<CryptoKey> {
  let imported = keys.get(secret);
  if (!imported) {
    imported = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    keys.set(secret, imported);
    // A failed import is not kept: the next request tries again.
    imported.catch(() => keys.delete(secret));
  }
  return imported;
}

/** What an access token proves: who, on which device, and since when the account exists (for its rate-limit tier). */
export interface AccessClaims extends Identity {
  accountCreatedAt: number;
}

export async function signAccessToken(secret: string, claims: AccessClaims, now = Date.now()): Promise<{ token: string; expiresAt: number }> {
  const expiresAt = now + LIFETIMES.accessTokenMs;
  const token = await new SignJWT({ did: claims.deviceId, act: claims.accountCreatedAt })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.userId)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(Math.floor(expiresAt / 1000))
    .sign(await key(secret));
  return { token, expiresAt };
}

/**
 * Access tokens this isolate verified, until they expire. A device sends the same token
 * with every request for its whole life (LIFETIMES.accessTokenMs), and verifying it again
 * (an HMAC and the claims' checks) was ~7% of a history page's cost. Keyed by the token's
 * exact text and kept with the secret it was verified under, so only what this isolate
 * checked is trusted again, and a rotated secret starts afresh. Revocation never rested
 * on the token (that is the device's standing). At most VERIFIED_TOKENS_KEPT, the oldest
 * dropped first.
 */
const VERIFIED_TOKENS_KEPT = 5_000;
const verified = new ExpiringMap<string, { claims: AccessClaims; secret: string }>(VERIFIED_TOKENS_KEPT);

export async function verifyAccessToken(secret: string, token: string, now = Date.now()): Promise<AccessClaims> {
  const known = verified.get(token, now);
  if (known && known.secret === secret) return { ...known.claims };
  verified.delete(token);
  const { claims, expiresAt } = await verifyAccessTokenNow(secret, token, now);
  verified.set(token, { claims, secret }, expiresAt);
  return { ...claims };
}

async function verifyAccessTokenNow(secret: string, token: string, now: number): Promise<{ claims: AccessClaims; expiresAt: number }> {
  try {
    const { payload } = await jwtVerify(token, await key(secret), { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'], currentDate: new Date(now) });
    if (typeof payload.sub !== 'string' || typeof payload.did !== 'string' || typeof payload.act !== 'number' || typeof payload.exp !== 'number') {
      throw new AppError('invalid_token', 'The access token is malformed.');
    }
    return { claims: { userId: payload.sub, deviceId: payload.did, accountCreatedAt: payload.act }, expiresAt: payload.exp * 1000 };
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (err instanceof errors.JWTExpired) throw new AppError('invalid_token', 'The access token has expired; refresh it.');
    throw new AppError('invalid_token', 'The access token is not valid.');
  }
}

/** What a connect ticket names: the device, and its one-use id until it expires. */
export interface TicketClaims extends Identity {
  nonce: string;
  expiresAt: number;
}

/**
 * A single-use ticket for a WebSocket upgrade (browsers cannot set headers on one, and a
 * long-lived token must never sit in a URL). Signed, so issuing one writes nothing; the
 * user's object spends its nonce, so it works once.
 */
export async function signConnectTicket(secret: string, identity: Identity, now = Date.now()): Promise<{ ticket: string; expiresAt: number }> {
  const expiresAt = now + LIFETIMES.connectTicketMs;
  const nonce = crypto.randomUUID();
  const ticket = await new SignJWT({ did: identity.deviceId })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(identity.userId)
    .setIssuer(ISSUER)
    .setAudience(TICKET_AUDIENCE)
    .setJti(nonce)
    .setExpirationTime(Math.floor(expiresAt / 1000))
    .sign(await key(secret));
  return { ticket, expiresAt };
}

/** The claims of a ticket that is signed, for connecting and not expired; whether it was spent is the user's object's to say. */
export async function verifyConnectTicket(secret: string, ticket: string): Promise<TicketClaims> {
  const invalid = () => new AppError('invalid_ticket', 'The connect ticket is unknown, used or expired; ask for a new one.');
  if (ticket.length === 0 || ticket.length > 2048) throw invalid();
  try {
    const { payload } = await jwtVerify(ticket, await key(secret), { issuer: ISSUER, audience: TICKET_AUDIENCE, algorithms: ['HS256'] });
    if (typeof payload.sub !== 'string' || typeof payload.did !== 'string' || typeof payload.jti !== 'string' || typeof payload.exp !== 'number') throw invalid();
    return { userId: payload.sub, deviceId: payload.did, nonce: payload.jti, expiresAt: payload.exp * 1000 };
  } catch {
    throw invalid();
  }
}
