import { describe, expect, it } from 'vitest';
import { env, exports } from 'cloudflare:workers';
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test';
import worker from '../../src/index.js';
import { BASE, call, createDirect, registerUser } from './helpers.js';
import { download, sendMedia, ticketFor, uploadWhole } from './media-helpers.js';
import { LANDSCAPE_PNG } from '../fixtures/images.js';
import { MEDIA, type Session } from '../../src/protocol/index.js';
import { deleteMediaOf, sweepOrphans } from '../../src/media/cleanup.js';
import { downloadEncryptedMedia, uploadEncryptedMedia, type MediaClientOptions } from '../../src/client/media.js';

const client = (session: Session): MediaClientOptions => ({
  baseUrl: BASE,
  token: () => session.accessToken,
  fetch: (input, init) => exports.default.fetch(input, init),
});

describe('orphaned uploads', () => {
  it('are deleted after the documented time; referenced media stays, and an orphan can no longer be referenced', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const orphan = await uploadWhole(alice, id, LANDSCAPE_PNG, 'image/png');
    const shared = await uploadWhole(alice, id, LANDSCAPE_PNG, 'image/png');
    const neverSent = await ticketFor(alice, id, LANDSCAPE_PNG, { contentType: 'image/png' });
    expect((await sendMedia(alice, id, { mediaId: shared.mediaId })).status).toBe(201);

    const early = await sweepOrphans(env, Date.now() + MEDIA.orphanAfterMs - 60_000);
    expect(early.deleted).not.toContain(orphan.mediaId);

    const sweep = await sweepOrphans(env, Date.now() + MEDIA.orphanAfterMs + 60_000);
    expect(sweep.deleted).toEqual(expect.arrayContaining([orphan.mediaId, neverSent.mediaId]));
    expect(sweep.deleted).not.toContain(shared.mediaId);
    expect(sweep.kept).toContain(shared.mediaId);
    expect(await env.MEDIA.head(`media/${orphan.mediaId}`)).toBeNull();
    expect(await env.MEDIA.head(`thumb/${orphan.mediaId}`)).toBeNull();
    expect(await env.DB.prepare('SELECT id FROM media WHERE id = ?').bind(orphan.mediaId).first()).toBeNull();
    expect((await sendMedia(alice, id, { mediaId: orphan.mediaId })).status).toBe(404);
    expect((await download(alice, `/v1/media/${orphan.mediaId}`)).status).toBe(404);
    expect((await download(bob, `/v1/media/${shared.mediaId}`)).status).toBe(200);
  });

  it('runs from the cron trigger', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const orphan = await uploadWhole(alice, id, LANDSCAPE_PNG, 'image/png');
    await env.DB.prepare('UPDATE media SET created_at = ? WHERE id = ?').bind(Date.now() - MEDIA.orphanAfterMs - 60_000, orphan.mediaId).run();
    const ctx = createExecutionContext();
    worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: '17 * * * *' }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await env.MEDIA.head(`media/${orphan.mediaId}`)).toBeNull();
  });

  it('deleteMediaOf removes the blob, the thumbnail and the row', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const media = await uploadWhole(alice, id, LANDSCAPE_PNG, 'image/png');
    await deleteMediaOf(env, [media.mediaId]);
    expect(await env.MEDIA.head(`media/${media.mediaId}`)).toBeNull();
    expect(await env.MEDIA.head(`thumb/${media.mediaId}`)).toBeNull();
    expect((await download(alice, `/v1/media/${media.mediaId}`)).status).toBe(404);
  });

  it('a message deleted for everyone takes its media with it', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const media = await uploadWhole(alice, id, LANDSCAPE_PNG, 'image/png');
    const sent = await sendMedia(alice, id, { mediaId: media.mediaId });
    const { seq } = await sent.json<{ seq: number }>();
    expect((await download(bob, `/v1/media/${media.mediaId}`)).status).toBe(200);
    const res = await call(`/v1/conversations/${id}/messages/${seq}?scope=everyone`, { token: alice.accessToken, method: 'DELETE' });
    expect(res.status).toBeLessThan(300);
    await waitFor(async () => (await env.MEDIA.head(`media/${media.mediaId}`)) === null, 'the blob to go');
    expect(await env.MEDIA.head(`thumb/${media.mediaId}`)).toBeNull();
    expect((await download(bob, `/v1/media/${media.mediaId}`)).status).toBe(404);
  });
});

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('end-to-end encrypted media', () => {
  it('R2 holds only ciphertext, no server thumbnail is made, and the receiving SDK decrypts the original', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const id = await createDirect(alice, bob);
    const thumbnail = LANDSCAPE_PNG.subarray(0, 500);
    const progress: number[] = [];
    const ref = await uploadEncryptedMedia(client(alice), LANDSCAPE_PNG, { conversationId: id, contentType: 'image/png', thumbnail, onProgress: (p) => progress.push(p.loaded) });
    expect(progress.at(-1)).toBe(LANDSCAPE_PNG.byteLength + 28);

    const stored = new Uint8Array(await (await env.MEDIA.get(`media/${ref.mediaId}`))!.arrayBuffer());
    expect(stored.byteLength).toBe(LANDSCAPE_PNG.byteLength + 28);
    expect(indexOf(stored, LANDSCAPE_PNG.subarray(0, 64))).toBe(-1);
    expect(indexOf(stored, LANDSCAPE_PNG.subarray(1000, 1064))).toBe(-1);
    expect(await env.MEDIA.head(`thumb/${ref.mediaId}`)).toBeNull();

    // The server sees a reference; key and digest would travel inside the encrypted message.
    const sent = await sendMedia(alice, id, { mediaId: ref.mediaId, thumbnailId: ref.thumbnail!.mediaId, sealed: 'c2VhbGVk' });
    expect(sent.status).toBe(201);
    expect(await downloadEncryptedMedia(client(bob), ref)).toEqual(LANDSCAPE_PNG);
    expect(await downloadEncryptedMedia(client(bob), ref.thumbnail!)).toEqual(thumbnail);
  });
});

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
