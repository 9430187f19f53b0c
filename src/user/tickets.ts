/**
 * @module user/tickets
 * Connect tickets are signed by the Worker (src/auth/tokens.ts) and spent here, at the
 * object that owns the device: one call both checks the device's standing and makes the
 * ticket single-use, where it used to be a D1 write to issue, a D1 delete to redeem and a
 * call here for the standing. A spent ticket's nonce is kept until the ticket would have
 * expired, then forgotten.
 */
import type { UserStore } from './store.js';

/** Spends a ticket: false when it was spent before (or has expired). */
export function spend(store: UserStore, nonce: string, expiresAt: number, now: number): boolean {
  if (expiresAt <= now) return false;
  store.sql.exec('DELETE FROM spent_tickets WHERE expires_at <= ?', now);
  return store.sql.exec('INSERT INTO spent_tickets (nonce, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING', nonce, expiresAt).rowsWritten > 0;
}
