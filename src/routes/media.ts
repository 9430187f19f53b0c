/**
 * @module routes/media
 * Media: ask to upload (authenticated), the signed upload URLs (authenticated by their
 * signature alone, like pre-signed URLs, so any HTTP client can PUT to them), and
 * downloads, authorised at request time by the conversation the media was shared in.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { AppBindings } from '../env.js';
import { CreateUploadBody, MediaId } from '../protocol/index.js';
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

const PartNumber = z.coerce.number().int().min(1).max(10_000);

const query = (c: Context) => new URL(c.req.url).searchParams;

const notFound = () => new AppError('media_not_found', 'No such media, or you may not see it.');

export const mediaRoutes = new Hono<AppBindings>()
  // ── Signed URLs: no bearer token; the signature is the authority ─────────────
  .put('/upload/:id', async (c) => {
    const mediaId = parseParams(MediaId, c.req.param('id'));
    const grant = await checkGrant(authSecret(c.env), { action: 'put', mediaId, part: 0 }, query(c));
    return c.json({ media: await putWhole(c.env, grant, c.req.raw) }, 201);
  })
  .put('/upload/:id/parts/:n', async (c) => {
    const mediaId = parseParams(MediaId, c.req.param('id'));
    const part = parseParams(PartNumber, c.req.param('n'));
    const grant = await checkGrant(authSecret(c.env), { action: 'part', mediaId, part }, query(c));
    return c.json(await putPart(c.env, grant, c.req.raw));
  })
  .get('/upload/:id/status', async (c) => {
    const mediaId = parseParams(MediaId, c.req.param('id'));
    return c.json(await status(c.env, await checkGrant(authSecret(c.env), { action: 'status', mediaId, part: 0 }, query(c))));
  })
  .post('/upload/:id/complete', async (c) => {
    const mediaId = parseParams(MediaId, c.req.param('id'));
    const grant = await checkGrant(authSecret(c.env), { action: 'complete', mediaId, part: 0 }, query(c));
    return c.json({ media: await complete(c.env, grant) }, 201);
  })
  // ── Authenticated ────────────────────────────────────────────────────────────
  .use(requireAuth())
  .post('/', async (c) => {
    const body = await readJson(c, CreateUploadBody);
    const identity = c.get('identity');
    await take(c.env, `user:media:${identity.userId}`, TIER_LIMITS[c.get('tier')].mediaUploads, 'upload requests');
    // Membership first (non-members get conversation_not_found), so no row or R2 upload is made for them.
    unwrap(await c.env.CONVERSATIONS.getByName(body.conversationId).info(identity));
    return c.json(await grantUpload(c.env, authSecret(c.env), new URL(c.req.url).origin, identity, body), 201);
  })
  .get('/:id', async (c) => serve(c, false))
  .get('/:id/thumbnail', async (c) => serve(c, true))
  .get('/:id/info', async (c) => c.json({ media: store.toInfo(await authorise(c)) }));

/** The media row, if it is stored and the caller may read it right now. */
async function authorise(c: Context<AppBindings>): Promise<store.MediaRow> {
  const mediaId = parseParams(MediaId, c.req.param('id'));
  const row = await store.get(c.env.DB, mediaId);
  if (!row || row.state !== 'ready') throw notFound();
  const allowed = await c.env.CONVERSATIONS.getByName(row.conversation_id).mediaAccess(c.get('identity'), mediaId);
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
  const head = thumbnail ? await c.env.MEDIA.head(key) : null;
  const size = thumbnail ? (head?.size ?? 0) : row.size;
  const range = parseRange(c.req.header('range') ?? null, size);
  if (range === 'unsatisfiable') {
    const res = problem(c, new AppError('range_not_satisfiable', `The range is outside the ${size} bytes of this media.`));
    res.headers.set('Content-Range', `bytes */${size}`);
    return res;
  }
  const object = await c.env.MEDIA.get(key, range ? { range } : {});
  if (!object) throw notFound();
  if (range) {
    headers.set('Content-Range', `bytes ${range.offset}-${range.offset + range.length - 1}/${size}`);
    headers.set('Content-Length', String(range.length));
    return new Response(object.body, { status: 206, headers });
  }
  headers.set('Content-Length', String(size));
  return new Response(object.body, { status: 200, headers });
}
