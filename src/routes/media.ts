/**
 * @module routes/media
 * Media: ask to upload (authenticated), the signed upload URLs (authenticated by their
 * signature alone, like pre-signed URLs, so any HTTP client can PUT to them), and
 * downloads, authorised at request time by the conversation the media was shared in.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AppBindings } from '../env.js';
import { CreateUploadBody, MediaId, MediaInfo, UploadStatus, UploadTicket } from '../protocol/index.js';
import { doc } from '../openapi/describe.js';
import { requireAuth } from '../middleware/auth.js';
import { parseParams, readJson } from '../middleware/body.js';
import { problem } from '../middleware/errors.js';
import { authSecret } from '../config.js';
import { AppError, unwrap } from '../errors.js';
import * as store from '../media/store.js';
import { checkGrant, complete, grantUpload, putPart, putWhole, status } from '../media/upload.js';
import { matchesEtag, mediaHeaders, parseRange } from '../media/download.js';
import { TIER_LIMITS } from '../ratelimit/rules.js';
import { take } from '../ratelimit/limiters.js';
import { conversationStub, mediaBucket } from '../placement.js';

const PartNumber = z.coerce.number().int().min(1).max(10_000);

const query = (c: Context) => new URL(c.req.url).searchParams;

const notFound = () => new AppError('media_not_found', 'No such media, or you may not see it.');

/** Each route's OpenAPI entry (src/openapi/describe.ts): the schemas are those the handler reads. */
const Info = z.object({ media: MediaInfo });
const BYTES = { type: 'application/octet-stream', description: 'The exact bytes, with Content-Length.' };
const docs = {
  put: doc({
    tag: 'media',
    auth: 'signature',
    summary: 'Upload (single request)',
    description: 'The `upload.url` of a single upload: the exact bytes of the signed size and SHA-256. Checked against the declared type by magic bytes.',
    params: { id: MediaId },
    rawBody: BYTES,
    responses: { 201: { description: 'Stored.', schema: Info } },
    errors: ['upload_mismatch', 'unsupported_media_type', 'payload_too_large'],
  }),
  part: doc({
    tag: 'media',
    auth: 'signature',
    summary: 'Upload one part (multipart)',
    description: 'Part n of a multipart upload: exactly `partSize` bytes (the last: the rest); may be resent until completion.',
    params: { id: MediaId, n: PartNumber },
    rawBody: BYTES,
    responses: { 200: { description: 'Stored.', schema: z.object({ part: z.number().int(), size: z.number().int() }) } },
    errors: ['upload_mismatch', 'payload_too_large'],
  }),
  status: doc({
    tag: 'media',
    auth: 'signature',
    summary: 'Multipart upload status',
    description: 'Which parts are stored, to resume an interrupted upload.',
    params: { id: MediaId },
    responses: { 200: { description: 'The parts stored.', schema: UploadStatus } },
  }),
  complete: doc({
    tag: 'media',
    auth: 'signature',
    summary: 'Complete a multipart upload',
    description: 'Single use. Checks every part, the size, the SHA-256 and the type; on a mismatch nothing is stored.',
    params: { id: MediaId },
    responses: { 201: { description: 'Stored.', schema: Info } },
    errors: ['upload_mismatch', 'unsupported_media_type'],
  }),
  create: doc({
    tag: 'media',
    summary: 'Start an upload',
    description: 'For a conversation you are a member of: returns signed URLs (single up to 16 MiB, else multipart in 8 MiB parts). Unreferenced uploads are deleted after 24 hours.',
    body: CreateUploadBody,
    responses: { 201: { description: 'Where to upload.', schema: UploadTicket } },
    errors: ['conversation_not_found', 'unsupported_media_type', 'rate_limited'],
  }),
  download: doc({
    tag: 'media',
    summary: 'Download',
    description: 'The bytes, for members of the conversation once a message shares the item (the uploader always). `Range` gives 206; `If-None-Match` gives 304.',
    params: { id: MediaId },
    headers: { Range: '`bytes=a-b`, `a-` or `-n`.', 'If-None-Match': 'The ETag of a copy you have.' },
    responses: {
      200: { description: 'The bytes.', media: { type: 'application/octet-stream' } },
      206: { description: 'The range asked for.', media: { type: 'application/octet-stream' } },
      304: { description: 'Not modified.' },
    },
    errors: ['media_not_found', 'range_not_satisfiable'],
  }),
  thumbnail: doc({
    tag: 'media',
    summary: 'Download the server thumbnail',
    description: 'WebP, fitting inside 320×320; same rules as the download.',
    params: { id: MediaId },
    headers: { Range: 'As for the download.', 'If-None-Match': 'The ETag of a copy you have.' },
    responses: { 200: { description: 'The thumbnail.', media: { type: 'image/webp' } }, 304: { description: 'Not modified.' } },
    errors: ['media_not_found', 'not_found', 'range_not_satisfiable'],
  }),
  info: doc({
    tag: 'media',
    summary: 'Media info',
    description: 'Type (detected from the bytes), size, dimensions as displayed, thumbnail.',
    params: { id: MediaId },
    responses: { 200: { description: 'The info.', schema: Info } },
    errors: ['media_not_found'],
  }),
};

export const mediaRoutes = new Hono<AppBindings>()
  // ── Signed URLs: no bearer token; the signature is the authority ─────────────
  .put('/upload/:id', docs.put, async (c) => {
    const mediaId = parseParams(MediaId, c.req.param('id'));
    const grant = await checkGrant(authSecret(c.env), { action: 'put', mediaId, part: 0 }, query(c));
    return c.json({ media: await putWhole(c.env, grant, c.req.raw) }, 201);
  })
  .put('/upload/:id/parts/:n', docs.part, async (c) => {
    const mediaId = parseParams(MediaId, c.req.param('id'));
    const part = parseParams(PartNumber, c.req.param('n'));
    const grant = await checkGrant(authSecret(c.env), { action: 'part', mediaId, part }, query(c));
    return c.json(await putPart(c.env, grant, c.req.raw));
  })
  .get('/upload/:id/status', docs.status, async (c) => {
    const mediaId = parseParams(MediaId, c.req.param('id'));
    return c.json(await status(c.env, await checkGrant(authSecret(c.env), { action: 'status', mediaId, part: 0 }, query(c))));
  })
  .post('/upload/:id/complete', docs.complete, async (c) => {
    const mediaId = parseParams(MediaId, c.req.param('id'));
    const grant = await checkGrant(authSecret(c.env), { action: 'complete', mediaId, part: 0 }, query(c));
    return c.json({ media: await complete(c.env, grant) }, 201);
  })
  // ── Authenticated ────────────────────────────────────────────────────────────
  .use(requireAuth())
  .post('/', docs.create, async (c) => {
    const body = await readJson(c, CreateUploadBody);
    const identity = c.get('identity');
    await take(c.env, `user:media:${identity.userId}`, TIER_LIMITS[c.get('tier')].mediaUploads, 'upload requests');
    // Membership first (non-members get conversation_not_found), so no row or R2 upload is made for them.
    unwrap(await conversationStub(c.env, body.conversationId).info(identity));
    return c.json(await grantUpload(c.env, authSecret(c.env), new URL(c.req.url).origin, identity, body), 201);
  })
  .get('/:id', docs.download, async (c) => serve(c, false))
  .get('/:id/thumbnail', docs.thumbnail, async (c) => serve(c, true))
  .get('/:id/info', docs.info, async (c) => c.json({ media: store.toInfo(await authorise(c)) }));

/** The media row, if it is stored and the caller may read it right now. */
async function authorise(c: Context<AppBindings>): Promise<store.MediaRow> {
  const mediaId = parseParams(MediaId, c.req.param('id'));
  const row = await store.get(c.env.DB, mediaId);
  if (!row || row.state !== 'ready') throw notFound();
  const allowed = await conversationStub(c.env, row.conversation_id).mediaAccess(c.get('identity'), mediaId);
  if (!allowed) throw notFound();
  return row;
}

async function serve(c: Context<AppBindings>, thumbnail: boolean): Promise<Response> {
  const row = await authorise(c);
  const key = thumbnail ? row.thumbnail_key : row.r2_key;
  if (!key) throw new AppError('not_found', 'This media has no server thumbnail.');
  const contentType = thumbnail ? 'image/webp' : (row.content_type ?? 'application/octet-stream');
  const etag = thumbnail ? `${row.sha256}-thumb` : row.sha256;
  const headers = mediaHeaders(row.id, contentType, etag);
  if (matchesEtag(c.req.header('if-none-match') ?? null, etag)) return new Response(null, { status: 304, headers });
  const bucket = mediaBucket(c.env, row.conversation_id);
  const head = thumbnail ? await bucket.head(key) : null;
  const size = thumbnail ? (head?.size ?? 0) : row.size;
  const range = parseRange(c.req.header('range') ?? null, size);
  if (range === 'unsatisfiable') {
    const res = problem(c, new AppError('range_not_satisfiable', `The range is outside the ${size} bytes of this media.`));
    res.headers.set('Content-Range', `bytes */${size}`);
    return res;
  }
  const object = await bucket.get(key, range ? { range } : {});
  if (!object) throw notFound();
  if (range) {
    headers.set('Content-Range', `bytes ${range.offset}-${range.offset + range.length - 1}/${size}`);
    headers.set('Content-Length', String(range.length));
    return new Response(object.body, { status: 206, headers });
  }
  headers.set('Content-Length', String(size));
  return new Response(object.body, { status: 200, headers });
}
