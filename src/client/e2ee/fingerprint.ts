/**
 * @module client/e2ee/fingerprint
 * Safety numbers: Signal's NumericFingerprint (version 0) and ScannableFingerprint.
 *
 * Each side's fingerprint is SHA-512 iterated 5,200 times: first over
 * 0x0000 (the version) ‖ identity key ‖ stable identifier ‖ identity key, then over the
 * previous hash ‖ identity key. Its first 30 bytes give 30 digits (six 5-byte big-endian chunks, each mod
 * 100,000, zero-padded). The 60 digits shown put the smaller of the two 30-digit strings
 * first, so both people see the same number. The scannable form (for a QR code) is the
 * protobuf CombinedFingerprints { 1 version, 2 { 1 local hash[0..32] }, 3 { 1 remote hash[0..32] } }.
 */
import { sha512 } from '@noble/hashes/sha2.js';
import { concat, equalBytes, type Bytes } from './bytes.js';
import { ProtobufWriter, readProtobuf } from './protobuf.js';

export const FINGERPRINT_ITERATIONS = 5_200;
/** The scannable form's version: 2 is what Signal uses with service-id identifiers. */
export const SCANNABLE_FINGERPRINT_VERSION = 2;
const NUMERIC_VERSION = Uint8Array.of(0, 0);

function iteratedHash(iterations: number, identifier: Uint8Array, identityKey: Uint8Array): Bytes {
  let hash = sha512(concat(NUMERIC_VERSION, identityKey, identifier, identityKey));
  for (let i = 1; i < iterations; i++) hash = sha512(concat(hash, identityKey));
  return hash as Bytes;
}

function digits(hash: Uint8Array): string {
  let out = '';
  for (let at = 0; at < 30; at += 5) {
    let chunk = 0;
    for (let i = 0; i < 5; i++) chunk = chunk * 256 + hash[at + i]!;
    out += String(chunk % 100_000).padStart(5, '0');
  }
  return out;
}

export interface SafetyNumberInput {
  localIdentifier: Uint8Array;
  localKey: Uint8Array;
  remoteIdentifier: Uint8Array;
  remoteKey: Uint8Array;
  iterations?: number;
  version?: number;
}

export interface SafetyNumber {
  /** 60 digits, the same for both people. */
  displayable: string;
  /** The bytes a QR code carries; compare a scanned one with `compareScannable`. */
  scannable: Bytes;
}

export function safetyNumber(input: SafetyNumberInput): SafetyNumber {
  const iterations = input.iterations ?? FINGERPRINT_ITERATIONS;
  const local = iteratedHash(iterations, input.localIdentifier, input.localKey);
  const remote = iteratedHash(iterations, input.remoteIdentifier, input.remoteKey);
  const [a, b] = [digits(local), digits(remote)];
  const scannable = new ProtobufWriter()
    .uint(1, input.version ?? SCANNABLE_FINGERPRINT_VERSION)
    .bytes(2, new ProtobufWriter().bytes(1, local.slice(0, 32)).finish())
    .bytes(3, new ProtobufWriter().bytes(1, remote.slice(0, 32)).finish())
    .finish();
  return { displayable: a < b ? a + b : b + a, scannable };
}

/** Whether a scanned code is the other side of ours (their local is our remote, and back). */
export function compareScannable(ours: Uint8Array, scanned: Uint8Array): boolean {
  try {
    const a = readProtobuf(ours);
    const b = readProtobuf(scanned);
    const content = (field: Uint8Array | undefined) => (field ? readProtobuf(field).bytes.get(1) : undefined);
    const [aLocal, aRemote, bLocal, bRemote] = [content(a.bytes.get(2)), content(a.bytes.get(3)), content(b.bytes.get(2)), content(b.bytes.get(3))];
    if (!aLocal || !aRemote || !bLocal || !bRemote || a.uints.get(1) !== b.uints.get(1)) return false;
    return equalBytes(aLocal, bRemote) && equalBytes(aRemote, bLocal);
  } catch {
    return false;
  }
}
