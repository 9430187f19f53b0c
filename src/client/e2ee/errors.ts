/**
 * @module client/e2ee/errors
 * The failures end-to-end encryption can meet, as one error class with a literal `code`
 * (the SDK's style: see ../errors.ts). Every one of them leaves the stored sessions as
 * they were: a message that fails is refused alone, and the next one still decrypts.
 */

/**
 * - `no_session`: nothing to encrypt with (or decrypt a plain message with) for that
 *   device; process its prekey bundle first, or wait for its prekey message.
 * - `untrusted_identity`: the device's identity key is not the one on record, and the
 *   change may not be accepted silently (the contact was marked verified). The app shows
 *   the new safety number; `trustIdentity` accepts it.
 * - `invalid_key`: a key or a prekey signature in a bundle is malformed or does not verify.
 * - `invalid_message`: the message is malformed, from a version we do not speak, or fails
 *   authentication (a wrong MAC or signature, a tampered byte, padding that is not PKCS#7).
 * - `duplicate_message`: this message was already decrypted (its key is gone by design).
 * - `missing_prekey`: a prekey message names a prekey this device no longer has.
 */
export type E2eeErrorCode = 'no_session' | 'untrusted_identity' | 'invalid_key' | 'invalid_message' | 'duplicate_message' | 'missing_prekey';

export class E2eeError extends Error {
  readonly code: E2eeErrorCode;

  constructor(code: E2eeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'E2eeError';
    this.code = code;
  }
}

/** No session with that device. */
export class NoSessionError extends E2eeError {
  constructor(readonly address: string) {
    super('no_session', `no session with ${address}`);
    this.name = 'NoSessionError';
  }
}

/** The identity key for that device changed, and the change may not be accepted silently. */
export class UntrustedIdentityError extends E2eeError {
  constructor(
    readonly address: string,
    readonly identityKey: Uint8Array,
  ) {
    super('untrusted_identity', `the identity key of ${address} changed`);
    this.name = 'UntrustedIdentityError';
  }
}

export class InvalidKeyError extends E2eeError {
  constructor(message: string) {
    super('invalid_key', message);
    this.name = 'InvalidKeyError';
  }
}

/** This one message cannot be read: malformed, unauthentic or of a version we do not speak. */
export class InvalidMessageError extends E2eeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_message', message, options);
    this.name = 'InvalidMessageError';
  }
}

/** Another name for a failure to decrypt, for callers that think in those terms. */
export { InvalidMessageError as DecryptionFailedError };

/** The message was already decrypted once; its key was deleted after that. */
export class DuplicateMessageError extends E2eeError {
  constructor(message = 'message already decrypted') {
    super('duplicate_message', message);
    this.name = 'DuplicateMessageError';
  }
}

export class MissingPreKeyError extends E2eeError {
  constructor(message: string) {
    super('missing_prekey', message);
    this.name = 'MissingPreKeyError';
  }
}
