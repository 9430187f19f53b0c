import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { createDirect, createGroup, json, registerUser } from './helpers.js';
import { askUpload, download, fakeMp4, put, rel, sendMedia, sha256Hex, ticketFor, uploadWhole } from './media-helpers.js';
import { LANDSCAPE_PNG, ROTATED_JPEG } from '../fixtures/images.js';
import { MEDIA } from '../../src/protocol/index.js';
import { imageDimensions } from '../../src/media/sniff.js';

describe('image round trip', () => {
  it('stores a PNG, makes a thumbnail of the documented size, and serves both to the other member', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const media = await uploadWhole(alice, id, LANDSCAPE_PNG, 'image/png');
    expect(media).toMatchObject({ contentType: 'image/png', size: LANDSCAPE_PNG.byteLength, width: 1000, height: 500, encrypted: false });
    expect(media.thumbnail).toEqual({ width: MEDIA.thumbnailMaxSide, height: MEDIA.thumbnailMaxSide / 2, contentType: 'image/webp' });

    // The client sends only the id and a caption; the server fills in what it stored.
    const sent = await sendMedia(alice, id, { mediaId: media.mediaId, caption: 'look', size: 1, contentType: 'image/gif' });
    expect(sent.status).toBe(201);
    const { events } = await json(`/v1/conversations/${id}/events`, { token: bob.accessToken }, 200);
    expect(events.at(-1).content).toEqual({ type: 'media', mediaId: media.mediaId, caption: 'look', contentType: 'image/png', size: LANDSCAPE_PNG.byteLength, encrypted: false, width: 1000, height: 500, thumbnail: media.thumbnail });

    const res = await download(bob, `/v1/media/${media.mediaId}`);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(LANDSCAPE_PNG);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('etag')).toBe(`"${await sha256Hex(LANDSCAPE_PNG)}"`);
    expect(res.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    expect(res.headers.get('vary')).toBe('Origin');
    expect(res.headers.get('content-disposition')).toBe(`inline; filename="${media.mediaId}.png"`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    // Uploaded bytes are shown in a sandbox with nothing allowed to load: the Worker's
    // own headers for data responses must not replace the download's stricter policy.
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");

    const again = await download(bob, `/v1/media/${media.mediaId}`, { 'if-none-match': res.headers.get('etag')! });
    expect(again.status).toBe(304);

    const thumb = await download(bob, `/v1/media/${media.mediaId}/thumbnail`);
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get('content-type')).toBe('image/webp');
    expect(imageDimensions('image/webp', new Uint8Array(await thumb.arrayBuffer()))).toEqual({ width: 320, height: 160 });
  });

  it('stores a JPEG and respects its EXIF orientation in the dimensions and the thumbnail', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const media = await uploadWhole(alice, id, ROTATED_JPEG, 'image/jpeg');
    // Stored as 400×200 with orientation 6: shown as 200×400.
    expect(media).toMatchObject({ contentType: 'image/jpeg', width: 200, height: 400 });
    expect(media.thumbnail).toMatchObject({ width: 160, height: 320 });
    expect((await sendMedia(alice, id, { mediaId: media.mediaId })).status).toBe(201);
    const res = await download(bob, `/v1/media/${media.mediaId}`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(ROTATED_JPEG);
    const thumb = new Uint8Array(await (await download(bob, `/v1/media/${media.mediaId}/thumbnail`)).arrayBuffer());
    expect(imageDimensions('image/webp', thumb)).toEqual({ width: 160, height: 320 });
  });
});

describe('large files: multipart, resumable, ranges', () => {
  it('uploads 20 MB in parts (resuming after a gap), verifies it, and serves exact byte ranges', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const bytes = fakeMp4(20 * 1000 * 1000);
    const ticket = await ticketFor(alice, id, bytes, { contentType: 'video/mp4' });
    if (ticket.upload.kind !== 'multipart') throw new Error('expected multipart');
    const { parts, partSize } = ticket.upload;
    expect(parts).toHaveLength(3);
    const slice = (n: number) => bytes.subarray((n - 1) * partSize, Math.min(bytes.byteLength, n * partSize));

    // Part 2 first, then "the connection drops": the status says what is stored.
    expect((await put(parts[1]!, slice(2))).status).toBe(200);
    expect((await json(rel(ticket.upload.status), {}, 200)).stored).toEqual([2]);
    // Completing early is refused and does not use up the completion URL.
    expect((await json(rel(ticket.upload.complete), { method: 'POST' }, 422)).code).toBe('upload_mismatch');
    expect((await put(parts[0]!, slice(1))).status).toBe(200);
    expect((await put(parts[2]!, slice(3))).status).toBe(200);
    const done = await json(rel(ticket.upload.complete), { method: 'POST' }, 201);
    expect(done.media).toMatchObject({ mediaId: ticket.mediaId, contentType: 'video/mp4', size: bytes.byteLength });
    expect((await json(rel(ticket.upload.complete), { method: 'POST' }, 403)).code).toBe('invalid_upload_url');
    expect((await sendMedia(alice, id, { mediaId: ticket.mediaId })).status).toBe(201);

    const whole = await download(bob, `/v1/media/${ticket.mediaId}`);
    expect(whole.status).toBe(200);
    expect(await sha256Hex(new Uint8Array(await whole.arrayBuffer()))).toBe(await sha256Hex(bytes));

    const mid = await download(bob, `/v1/media/${ticket.mediaId}`, { range: 'bytes=10000000-10000099' });
    expect(mid.status).toBe(206);
    expect(mid.headers.get('content-range')).toBe(`bytes 10000000-10000099/${bytes.byteLength}`);
    expect(new Uint8Array(await mid.arrayBuffer())).toEqual(bytes.subarray(10_000_000, 10_000_100));
    const tail = await download(bob, `/v1/media/${ticket.mediaId}`, { range: 'bytes=-10' });
    expect(new Uint8Array(await tail.arrayBuffer())).toEqual(bytes.subarray(bytes.byteLength - 10));
    const open = await download(bob, `/v1/media/${ticket.mediaId}`, { range: `bytes=${bytes.byteLength - 5}-` });
    expect(new Uint8Array(await open.arrayBuffer())).toEqual(bytes.subarray(bytes.byteLength - 5));
    const outside = await download(bob, `/v1/media/${ticket.mediaId}`, { range: `bytes=${bytes.byteLength}-` });
    expect(outside.status).toBe(416);
    expect(outside.headers.get('content-range')).toBe(`bytes */${bytes.byteLength}`);
  });

  it('deletes a completed multipart upload whose bytes do not match the declared SHA-256', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const bytes = fakeMp4(MEDIA.multipartThreshold + 1);
    const ticket = await ticketFor(alice, id, bytes, { contentType: 'video/mp4', sha256: 'ab'.repeat(32) });
    if (ticket.upload.kind !== 'multipart') throw new Error('expected multipart');
    const { parts, partSize } = ticket.upload;
    for (let n = 1; n <= parts.length; n++) {
      expect((await put(parts[n - 1]!, bytes.subarray((n - 1) * partSize, n * partSize))).status).toBe(200);
    }
    expect((await json(rel(ticket.upload.complete), { method: 'POST' }, 422)).code).toBe('upload_mismatch');
    expect(await env.MEDIA.head(`media/${ticket.mediaId}`)).toBeNull();
    expect((await sendMedia(alice, id, { mediaId: ticket.mediaId })).status).toBe(404);
  });
});

describe('upload URLs are refused, and nothing is stored, when', () => {
  async function setup() {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const ticket = await ticketFor(alice, id, LANDSCAPE_PNG, { contentType: 'image/png' });
    if (ticket.upload.kind !== 'single') throw new Error('expected single');
    return { alice, id, ticket, url: ticket.upload.url };
  }
  const stored = async (mediaId: string) => (await env.MEDIA.list({ prefix: `media/${mediaId}` })).objects.length;
  const refused = async (res: Response, status: number, code: string) => {
    const text = await res.text();
    expect(res.status, text).toBe(status);
    expect(JSON.parse(text).code).toBe(code);
  };

  it('expired', async () => {
    const { ticket, url } = await setup();
    const { signedQuery } = await import('../../src/media/signing.js');
    const past = Date.now() - 1;
    const query = await signedQuery(env.AUTH_SECRET!, { action: 'put', mediaId: ticket.mediaId, part: 0, size: LANDSCAPE_PNG.byteLength, contentType: 'image/png', expiresAt: past });
    await refused(await put(`${url.split('?')[0]}?${query}`, LANDSCAPE_PNG), 403, 'invalid_upload_url');
    expect(await stored(ticket.mediaId)).toBe(0);
  });

  it('replayed after a successful upload', async () => {
    const { ticket, url } = await setup();
    expect((await put(url, LANDSCAPE_PNG)).status).toBe(201);
    await refused(await put(url, LANDSCAPE_PNG), 403, 'invalid_upload_url');
    expect(await stored(ticket.mediaId)).toBe(1);
  });

  it('tampered: a bigger size, another type, another media id, or a forged signature', async () => {
    const { alice, id, ticket, url } = await setup();
    const bigger = url.replace(`size=${LANDSCAPE_PNG.byteLength}`, `size=${LANDSCAPE_PNG.byteLength + 1}`);
    await refused(await put(bigger, new Uint8Array(LANDSCAPE_PNG.byteLength + 1)), 403, 'invalid_upload_url');
    await refused(await put(url.replace('type=image%2Fpng', 'type=application%2Foctet-stream'), LANDSCAPE_PNG), 403, 'invalid_upload_url');
    const other = await ticketFor(alice, id, LANDSCAPE_PNG, { contentType: 'image/png' });
    await refused(await put(url.replace(ticket.mediaId, other.mediaId), LANDSCAPE_PNG), 403, 'invalid_upload_url');
    await refused(await put(url.replace(/sig=[^&]+/, `sig=${'A'.repeat(43)}`), LANDSCAPE_PNG), 403, 'invalid_upload_url');
    expect(await stored(ticket.mediaId)).toBe(0);
    expect(await stored(other.mediaId)).toBe(0);
    // The genuine URL still works: the refusals used nothing up.
    expect((await put(url, LANDSCAPE_PNG)).status).toBe(201);
  });

  it('the body is not the signed size', async () => {
    const { ticket, url } = await setup();
    await refused(await put(url, LANDSCAPE_PNG.subarray(0, 100)), 422, 'upload_mismatch');
    await refused(await put(url, new Uint8Array([...LANDSCAPE_PNG, 0])), 413, 'payload_too_large');
    expect(await stored(ticket.mediaId)).toBe(0);
  });

  it('the bytes do not match the declared SHA-256, or are not the declared type', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const wrongSha = await ticketFor(alice, id, LANDSCAPE_PNG, { contentType: 'image/png', sha256: '00'.repeat(32) });
    if (wrongSha.upload.kind !== 'single') throw new Error('expected single');
    await refused(await put(wrongSha.upload.url, LANDSCAPE_PNG), 422, 'upload_mismatch');
    const notPng = await ticketFor(alice, id, ROTATED_JPEG, { contentType: 'image/png' });
    if (notPng.upload.kind !== 'single') throw new Error('expected single');
    await refused(await put(notPng.upload.url, ROTATED_JPEG), 415, 'unsupported_media_type');
    expect(await stored(wrongSha.mediaId)).toBe(0);
    expect(await stored(notPng.mediaId)).toBe(0);
    await refused(await sendMedia(alice, id, { mediaId: notPng.mediaId }), 404, 'media_not_found');
  });

  it('the declared size is over the limit of its kind (413), before any URL is issued', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    await refused(await askUpload(alice, id, LANDSCAPE_PNG, { contentType: 'image/png', size: MEDIA.maxBytes.image + 1 }), 413, 'payload_too_large');
    await refused(await askUpload(alice, id, LANDSCAPE_PNG, { contentType: 'video/mp4', size: MEDIA.maxBytes.video + 1 }), 413, 'payload_too_large');
    expect((await askUpload(alice, id, LANDSCAPE_PNG, { contentType: 'image/png', size: MEDIA.maxBytes.image })).status).toBe(201);
  });
});

describe('who may upload, reference and download', () => {
  it('non-members cannot upload to a conversation', async () => {
    const [alice, bob, carol] = [await registerUser('alice'), await registerUser('bob'), await registerUser('carol')];
    const id = await createDirect(alice, bob);
    const res = await askUpload(carol, id, LANDSCAPE_PNG, { contentType: 'image/png' });
    expect(res.status).toBe(404);
    expect((await res.json<{ code: string }>()).code).toBe('conversation_not_found');
  });

  it('only media the sender uploaded to that conversation can be referenced', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const [dm, group] = [await createDirect(alice, bob), await createGroup(alice, [bob])];
    const media = await uploadWhole(alice, dm, LANDSCAPE_PNG, 'image/png');
    expect((await json(`/v1/conversations/${dm}/messages`, { token: bob.accessToken, body: { cmid: crypto.randomUUID(), content: { type: 'media', mediaId: media.mediaId } } }, 404)).code).toBe('media_not_found');
    expect((await json(`/v1/conversations/${group}/messages`, { token: alice.accessToken, body: { cmid: crypto.randomUUID(), content: { type: 'media', mediaId: media.mediaId } } }, 404)).code).toBe('media_not_found');
    expect((await json(`/v1/conversations/${dm}/messages`, { token: alice.accessToken, body: { cmid: crypto.randomUUID(), content: { type: 'media', mediaId: 'm_nope' } } }, 404)).code).toBe('media_not_found');
  });

  it('a non-member, and a member before it is shared, cannot download; a removed member loses access at once', async () => {
    const [alice, bob, carol] = [await registerUser('alice'), await registerUser('bob'), await registerUser('carol')];
    const group = await createGroup(alice, [bob]);
    const media = await uploadWhole(alice, group, LANDSCAPE_PNG, 'image/png');
    const path = `/v1/media/${media.mediaId}`;
    expect((await download(alice, path)).status).toBe(200);
    expect((await download(bob, path)).status).toBe(404);
    expect((await sendMedia(alice, group, { mediaId: media.mediaId })).status).toBe(201);
    expect((await download(bob, path)).status).toBe(200);
    for (const p of [path, `${path}/thumbnail`, `${path}/info`]) {
      const res = await download(carol, p);
      expect(res.status).toBe(404);
      expect((await res.json<{ code: string }>()).code).toBe('media_not_found');
    }
    await json(`/v1/conversations/${group}/members/${bob.user.id}`, { token: alice.accessToken, method: 'DELETE' }, 204);
    expect((await download(bob, path)).status).toBe(404);
    expect((await download(bob, `${path}/thumbnail`)).status).toBe(404);
    expect((await download(alice, path)).status).toBe(200);
  });

  it('downloads need an access token', async () => {
    expect((await download({ accessToken: '' } as never, '/v1/media/m_x')).status).toBe(401);
  });
});
