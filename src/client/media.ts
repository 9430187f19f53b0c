/**
 * @module client/media
 * Media in the SDK: upload with progress (browser: XMLHttpRequest upload events; Node
 * and other runtimes: progress per multipart part), resumable multipart uploads, plain
 * and end-to-end encrypted media, and downloads.
 *
 * End-to-end encrypted media: the file is encrypted here with a fresh AES-256-GCM key,
 * only ciphertext is uploaded (and a thumbnail the app made, encrypted the same way), and
 * the returned `{ mediaId, key, digest }` goes inside the app's encrypted message. The
 * server never sees the key; the receiver checks the digest before decrypting.
 */
import {
  MediaInfo,
  UploadStatus,
  UploadTicket,
  type ErrorBody,
  type MediaContent,
  type MediaType,
} from '../protocol/index.js';
import { BACKOFF_DEFAULTS, nextDelay } from './backoff.js';

/** Bytes backed by a plain ArrayBuffer, which WebCrypto and fetch bodies take. */
export type Bytes = Uint8Array<ArrayBuffer>;

export interface MediaClientOptions {
  /** The service's origin, e.g. `https://chat.example.com`. */
  baseUrl: string;
  /** The current access token (called per request, so a refreshed token is picked up). */
  token: () => string | Promise<string>;
  /** Defaults to the global fetch. */
  fetch?: (input: string, init?: RequestInit) => Promise<Response>;
  /** Use XMLHttpRequest for single-request uploads when the runtime has it (browsers), for byte progress. Default true. */
  useXhr?: boolean;
  /** When a media call gives up (MEDIA_DEADLINE); either part may be changed. */
  deadline?: Partial<MediaDeadline>;
}

/**
 * How long a media call may run before it fails as `network` (and is retried as any
 * network failure is): an answer within `answerMs`, then the bytes it carries at no less
 * than `minBytesPerS` (an upload's from the start, a download's once its length is
 * known). A 5 MiB part may take 30 s + 160 s. A runtime's fetch may never end on a dead
 * connection, nor honour its abort; nothing here waits on it for longer.
 */
export interface MediaDeadline {
  answerMs: number;
  minBytesPerS: number;
}
export const MEDIA_DEADLINE: Readonly<MediaDeadline> = { answerMs: 30_000, minBytesPerS: 32_768 };

export interface UploadProgress {
  loaded: number;
  total: number;
}

export interface UploadOptions {
  conversationId: string;
  contentType: MediaType;
  onProgress?: (progress: UploadProgress) => void;
  /** Attempts per part (or per single upload) before giving up. Default 4. */
  attempts?: number;
}

/** A failed media call, with the service's stable error code. */
export class MediaError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'MediaError';
  }
}

/** The digest did not match, or the ciphertext failed authentication: never show such bytes. */
export class MediaIntegrityError extends Error {
  override readonly name = 'MediaIntegrityError';
}

// ── Plain uploads ──────────────────────────────────────────────────────────────

/**
 * Uploads `data` to a conversation and returns what the server stored; send a message
 * `{ type: "media", mediaId }` next.
 *
 * @example
 * const media = await uploadMedia(client, bytes, { conversationId, contentType: 'image/png', onProgress: (p) => bar(p.loaded / p.total) });
 */
export async function uploadMedia(client: MediaClientOptions, data: Bytes, options: UploadOptions, encrypted = false): Promise<MediaInfo> {
  const ticket = await requestUpload(client, data, options, encrypted);
  return sendUpload(client, ticket, data, options);
}

/** Step one: asks for a media id and signed URLs. Keep the ticket to resume a multipart upload later. */
export async function requestUpload(client: MediaClientOptions, data: Bytes, options: UploadOptions, encrypted = false): Promise<UploadTicket> {
  const body = { conversationId: options.conversationId, contentType: options.contentType, size: data.byteLength, sha256: await sha256Hex(data), encrypted };
  const init = { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await client.token()}` }, body: JSON.stringify(body) };
  return UploadTicket.parse(await call(client, '/v1/media', init, (res) => res.json()));
}

/**
 * Step two: sends the bytes. For multipart tickets it asks which parts are stored and
 * sends only the rest, so calling it again after a failure (or a reload) resumes.
 */
export async function sendUpload(client: MediaClientOptions, ticket: UploadTicket, data: Bytes, options: Pick<UploadOptions, 'onProgress' | 'attempts'> = {}): Promise<MediaInfo> {
  const total = data.byteLength;
  const attempts = options.attempts ?? 4;
  const upload = ticket.upload;
  if (upload.kind === 'single') {
    const answer = await retry(attempts, () => put(client, upload.url, data, (loaded) => options.onProgress?.({ loaded, total })));
    return MediaInfo.parse((answer as { media: unknown }).media);
  }
  const status = UploadStatus.parse(await call(client, upload.status, {}, (res) => res.json()));
  const stored = new Set(status.stored);
  let loaded = 0;
  for (const n of stored) loaded += partBytes(total, upload.partSize, n);
  options.onProgress?.({ loaded, total });
  for (let n = 1; n <= upload.parts.length; n++) {
    if (stored.has(n)) continue;
    const slice = data.subarray((n - 1) * upload.partSize, Math.min(total, n * upload.partSize));
    await retry(attempts, () => put(client, upload.parts[n - 1]!, slice, () => undefined));
    loaded += slice.byteLength;
    options.onProgress?.({ loaded, total });
  }
  const answer = await call(client, upload.complete, { method: 'POST' }, (res) => res.json());
  return MediaInfo.parse((answer as { media: unknown }).media);
}

/** The whole media, or a byte range (`{ offset, length }`) of it. */
export async function downloadMedia(client: MediaClientOptions, mediaId: string, range?: { offset: number; length: number }): Promise<Bytes> {
  const headers: Record<string, string> = { authorization: `Bearer ${await client.token()}` };
  if (range) headers.range = `bytes=${range.offset}-${range.offset + range.length - 1}`;
  return call(client, `/v1/media/${encodeURIComponent(mediaId)}`, { headers }, async (res) => new Uint8Array(await res.arrayBuffer()));
}

// ── End-to-end encrypted media ─────────────────────────────────────────────────

const IV_BYTES = 12;

export interface EncryptedBlob {
  /** `iv (12 bytes) ‖ AES-256-GCM(ciphertext ‖ tag)`: what is uploaded. */
  ciphertext: Bytes;
  /** The fresh 256-bit key, base64url. Goes only inside the encrypted message. */
  key: string;
  /** Lowercase hex SHA-256 of `ciphertext`, checked before decrypting. */
  digest: string;
}

/** What the app puts inside its encrypted message for the receiver. */
export interface EncryptedMediaRef {
  mediaId: string;
  key: string;
  digest: string;
  /** The real type and size of the plaintext (the server sees application/octet-stream). */
  contentType: MediaType;
  size: number;
  thumbnail?: { mediaId: string; key: string; digest: string };
}

/** Encrypts with a fresh random key and IV. */
export async function encryptMedia(plaintext: Bytes): Promise<EncryptedBlob> {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const key = await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt']);
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, plaintext));
  const ciphertext = new Uint8Array(IV_BYTES + sealed.byteLength);
  ciphertext.set(iv);
  ciphertext.set(sealed, IV_BYTES);
  return { ciphertext, key: toBase64url(raw), digest: await sha256Hex(ciphertext) };
}

/** Checks the digest, then decrypts (GCM also authenticates every byte). */
export async function decryptMedia(ciphertext: Bytes, key: string, digest: string): Promise<Bytes> {
  if ((await sha256Hex(ciphertext)) !== digest) throw new MediaIntegrityError('The media does not match its digest.');
  const raw = fromBase64url(key);
  if (raw.byteLength !== 32 || ciphertext.byteLength < IV_BYTES + 16) throw new MediaIntegrityError('Malformed key or ciphertext.');
  const aes = await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['decrypt']);
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: ciphertext.subarray(0, IV_BYTES) }, aes, ciphertext.subarray(IV_BYTES)));
  } catch {
    throw new MediaIntegrityError('The media failed authentication (wrong key or altered bytes).');
  }
}

/**
 * Encrypts and uploads a file (and the app's own thumbnail of it, if given) and returns
 * the reference to put inside the encrypted message. Send `{ type: "media", mediaId,
 * thumbnailId, sealed }` where `sealed` is that reference encrypted for the recipients.
 */
export async function uploadEncryptedMedia(
  client: MediaClientOptions,
  plaintext: Bytes,
  options: UploadOptions & { thumbnail?: Bytes },
): Promise<EncryptedMediaRef> {
  const blob = await encryptMedia(plaintext);
  const stored = await uploadMedia(client, blob.ciphertext, { ...options, contentType: 'application/octet-stream' }, true);
  const ref: EncryptedMediaRef = { mediaId: stored.mediaId, key: blob.key, digest: blob.digest, contentType: options.contentType, size: plaintext.byteLength };
  if (options.thumbnail) {
    const thumb = await encryptMedia(options.thumbnail);
    const storedThumb = await uploadMedia(client, thumb.ciphertext, { conversationId: options.conversationId, contentType: 'application/octet-stream' }, true);
    ref.thumbnail = { mediaId: storedThumb.mediaId, key: thumb.key, digest: thumb.digest };
  }
  return ref;
}

/**
 * The message to send for encrypted media in an end-to-end encrypted conversation: the
 * reference (key, digest, real type) rides in `sealed`, which the SDK then encrypts with
 * the rest of the message; the server sees only the media ids.
 */
export function encryptedMediaContent(ref: EncryptedMediaRef, caption?: string): MediaContent {
  const sealed = toBase64url(new Uint8Array(new TextEncoder().encode(JSON.stringify(ref))));
  return { type: 'media', mediaId: ref.mediaId, ...(ref.thumbnail ? { thumbnailId: ref.thumbnail.mediaId } : {}), ...(caption ? { caption } : {}), sealed };
}

/** The reference inside a decrypted media message of an encrypted conversation, or null if it carries none. */
export function encryptedMediaRefOf(content: MediaContent): EncryptedMediaRef | null {
  if (!content.sealed) return null;
  try {
    const ref = JSON.parse(new TextDecoder().decode(fromBase64url(content.sealed))) as EncryptedMediaRef;
    return ref.mediaId === content.mediaId && typeof ref.key === 'string' && typeof ref.digest === 'string' ? ref : null;
  } catch {
    return null;
  }
}

/** Downloads and decrypts media from a reference found in an encrypted message. */
export async function downloadEncryptedMedia(client: MediaClientOptions, ref: Pick<EncryptedMediaRef, 'mediaId' | 'key' | 'digest'>): Promise<Bytes> {
  return decryptMedia(await downloadMedia(client, ref.mediaId), ref.key, ref.digest);
}

// ── Plumbing ───────────────────────────────────────────────────────────────────

export async function sha256Hex(data: Bytes): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function partBytes(total: number, partSize: number, n: number): number {
  return Math.max(0, Math.min(partSize, total - (n - 1) * partSize));
}

function absolute(client: MediaClientOptions, url: string): string {
  return new URL(url, client.baseUrl).toString();
}

/**
 * A deadline for one call: `expired` rejects with a `network` MediaError when it passes
 * (and `signal` aborts), `extend` moves it later by the time `bytes` may take.
 */
function startDeadline(client: MediaClientOptions, bytes: number) {
  const { answerMs, minBytesPerS } = { ...MEDIA_DEADLINE, ...client.deadline };
  const controller = new AbortController();
  let fail: (error: MediaError) => void = () => undefined;
  const expired = new Promise<never>((_, reject) => (fail = reject));
  let timer: ReturnType<typeof setTimeout> | undefined;
  let due = Date.now() + answerMs;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const error = new MediaError('network', 'The media call did not finish in time.', 0);
      controller.abort(error);
      fail(error);
    }, Math.max(0, due - Date.now()));
  };
  const extend = (more: number) => {
    due += Math.ceil((more / minBytesPerS) * 1000);
    arm();
  };
  extend(bytes);
  return { signal: controller.signal, expired, extend, clear: () => clearTimeout(timer) };
}

/** Runs `work` against a deadline, however long `work` itself would wait. */
async function withDeadline<T>(client: MediaClientOptions, bytes: number, work: (deadline: ReturnType<typeof startDeadline>) => Promise<T>): Promise<T> {
  const deadline = startDeadline(client, bytes);
  try {
    return await Promise.race([work(deadline), deadline.expired]);
  } finally {
    deadline.clear();
  }
}

/** Fetches and reads the answer with `read` within the call's deadline; an error answer becomes a MediaError. */
async function call<T>(client: MediaClientOptions, url: string, init: RequestInit, read: (res: Response) => Promise<T>, bytes = 0): Promise<T> {
  const doFetch = client.fetch ?? ((input: string, i?: RequestInit) => fetch(input, i));
  return withDeadline(client, bytes, async (deadline) => {
    const res = await doFetch(absolute(client, url), { ...init, signal: deadline.signal });
    if (res.ok) {
      deadline.extend(Number(res.headers.get('content-length')) || 0);
      return read(res);
    }
    throw await failure(res);
  });
}

/** An error answer as a MediaError: its problem body's code and message, else its status. */
async function failure(res: Response): Promise<MediaError> {
  const body = (await res.json().catch(() => ({}))) as Partial<ErrorBody>;
  return new MediaError(body.code ?? 'internal', body.message ?? `HTTP ${res.status}`, res.status);
}

/** The minimal XMLHttpRequest surface used here, so this module needs no DOM types. */
interface Xhr {
  open(method: string, url: string): void;
  send(body: Bytes): void;
  abort(): void;
  setRequestHeader(name: string, value: string): void;
  upload: { onprogress: ((e: { loaded: number }) => void) | null };
  onload: (() => void) | null;
  onerror: (() => void) | null;
  status: number;
  responseText: string;
}

/** PUTs bytes to a signed URL, reporting bytes sent where the runtime can tell (XMLHttpRequest); resolves to the answer's JSON. */
async function put(client: MediaClientOptions, url: string, data: Bytes, onProgress: (loaded: number) => void): Promise<unknown> {
  const XhrClass = (globalThis as { XMLHttpRequest?: new () => Xhr }).XMLHttpRequest;
  if (XhrClass && !client.fetch && client.useXhr !== false) {
    return withDeadline(client, data.byteLength, async (deadline) => {
      const xhr = new XhrClass();
      deadline.signal.addEventListener('abort', () => xhr.abort());
      const done = new Promise<Response>((resolve, reject) => {
        xhr.onload = () => resolve(new Response(xhr.responseText, { status: xhr.status, headers: { 'content-type': 'application/json' } }));
        xhr.onerror = () => reject(new MediaError('network', 'The upload connection failed.', 0));
      });
      xhr.open('PUT', absolute(client, url));
      xhr.upload.onprogress = (e) => onProgress(e.loaded);
      xhr.send(data);
      const res = await done;
      if (res.ok) return res.json();
      throw await failure(res);
    });
  }
  const answer = await call(client, url, { method: 'PUT', body: data, headers: { 'content-length': String(data.byteLength) } }, (res) => res.json(), data.byteLength);
  onProgress(data.byteLength);
  return answer;
}

/** Retries network failures and 5xx with backoff; a 4xx answer (bad URL, mismatch) is final. */
async function retry<T>(attempts: number, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const final = err instanceof MediaError && err.status >= 400 && err.status < 500;
      if (final || attempt + 1 >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, nextDelay(attempt, Math.random(), BACKOFF_DEFAULTS)));
    }
  }
}

function toBase64url(bytes: Bytes): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(text: string): Bytes {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
