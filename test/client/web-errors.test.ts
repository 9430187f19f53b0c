/** What the web client says when something fails (src/web/lib/errors.ts). */
import { describe, expect, it } from 'vitest';
import { ChatError } from '../../src/client/errors.js';
import { errorText, waitText } from '../../src/web/lib/errors.js';

describe('errorText', () => {
  it('puts a long wait in minutes or hours, as a person reads it', () => {
    expect(waitText(12_000)).toBe('12 s');
    expect(waitText(3_424_000)).toBe('58 min');
    expect(waitText(2 * 3_600_000 + 5 * 60_000)).toBe('2 h 5 min');
    const refused = new ChatError('rate_limited', 'Too many registrations from this address; try again in 3424 s.', { retryAfterMs: 3_423_500 });
    expect(errorText(refused)).toBe('Too many registrations from this address; try again in 58 min.');
  });

  it('says plainly when the service could not be reached, and passes other messages through', () => {
    expect(errorText(new ChatError('network', 'POST /v1/auth/login failed: the request did not complete.'))).toMatch(/^Could not reach the service/);
    expect(errorText(new ChatError('forbidden', 'Only admins may do that.'))).toBe('Only admins may do that.');
  });
});
