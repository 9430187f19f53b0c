/**
 * Placement: a conversation created in the EU jurisdiction gets an `eu-` id, its object
 * comes from the jurisdiction-scoped namespace, and its media go to the EU bucket; every
 * later call (the Worker's routes, the members' UserDOs, media) finds it from the id
 * alone. A location hint only reaches the object's first creation. workerd implements no
 * jurisdiction (its `jurisdiction()` throws "not implemented"; locally the default
 * namespace stands in), so what is checked is the routing: the ids, the namespace a
 * deployed Worker asks for (against a stand-in namespace), which bucket holds the bytes,
 * which options the namespace was given, and that everything works through the ids.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { env } from 'cloudflare:workers';
import { LANDSCAPE_PNG } from '../fixtures/images.js';
import { conversationStub, jurisdictionOf, mediaBucket, placedId } from '../../src/placement.js';
import { blobKey, thumbnailKey } from '../../src/media/store.js';
import type { Session } from '../../src/protocol/index.js';
import { json, registerUser } from './helpers.js';
import { download, uploadWhole } from './media-helpers.js';

afterEach(() => vi.restoreAllMocks());

async function create(owner: Session, body: Record<string, unknown>, status = 201) {
  return json('/v1/conversations', { token: owner.accessToken, body }, status);
}

describe('placement', () => {
  it('an id names its jurisdiction; ids without a prefix are placed anywhere', () => {
    expect(placedId('g_abc', { jurisdiction: 'eu' })).toBe('eu-g_abc');
    expect(placedId('g_abc', { locationHint: 'weur' })).toBe('g_abc');
    expect(placedId('dm_abc', undefined)).toBe('dm_abc');
    expect(jurisdictionOf('eu-dm_abc')).toBe('eu');
    expect(jurisdictionOf('g_eu-abc')).toBeNull();
    expect(mediaBucket(env, 'eu-g_abc')).toBe(env.MEDIA_EU);
    expect(mediaBucket(env, 'g_abc')).toBe(env.MEDIA);
  });

  it("deployed, an EU conversation's object comes from the EU namespace; any other from the default one", () => {
    const scoped = { getByName: vi.fn(() => 'eu stub') };
    const namespace = { jurisdiction: vi.fn(() => scoped), getByName: vi.fn(() => 'default stub') };
    const deployed = { ENVIRONMENT: 'production', CONVERSATIONS: namespace } as unknown as typeof env;
    expect(conversationStub(deployed, 'eu-g_abc')).toBe('eu stub');
    expect(namespace.jurisdiction).toHaveBeenCalledWith('eu');
    expect(scoped.getByName).toHaveBeenCalledWith('eu-g_abc');
    expect(conversationStub(deployed, 'g_abc', { locationHint: 'weur' })).toBe('default stub');
    expect(namespace.getByName).toHaveBeenCalledWith('g_abc', { locationHint: 'weur' });
    expect(namespace.jurisdiction).toHaveBeenCalledTimes(1);
    // Locally (workerd has no jurisdictions) the default namespace stands in.
    expect(() => env.CONVERSATIONS.jurisdiction('eu')).toThrow(/not implemented/);
    expect(conversationStub(env, 'eu-g_abc').id.equals(env.CONVERSATIONS.idFromName('eu-g_abc'))).toBe(true);
  });

  it('an EU group works end to end through its id: sends, history, the members\' UserDOs', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const { conversation } = await create(alice, { kind: 'group', title: 'eu', memberIds: [bob.user.id], placement: { jurisdiction: 'eu' } });
    expect(conversation.id).toMatch(/^eu-g_/);

    const ack = await json(`/v1/conversations/${conversation.id}/messages`, { token: alice.accessToken, body: { cmid: 'eu-cmid-0001', content: { type: 'text', text: 'hallo' } } }, 201);
    const page = await json(`/v1/conversations/${conversation.id}/events?after=0`, { token: bob.accessToken }, 200);
    expect(page.events.map((e: { seq: number }) => e.seq)).toContain(ack.seq);
    // Bob's UserDO reaches the EU object too (his list asks it for unread state).
    await expect.poll(async () => (await json('/v1/conversations', { token: bob.accessToken }, 200)).conversations.map((c: { id: string }) => c.id)).toContain(conversation.id);
  });

  it("an EU conversation's media are stored in the EU bucket, and served from it", async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const { conversation } = await create(alice, { kind: 'direct', peerId: bob.user.id, placement: { jurisdiction: 'eu' } });
    expect(conversation.id).toMatch(/^eu-dm_/);
    const info = await uploadWhole(alice, conversation.id, LANDSCAPE_PNG, 'image/png');
    expect(await env.MEDIA_EU.head(blobKey(info.mediaId))).not.toBeNull();
    expect(await env.MEDIA_EU.head(thumbnailKey(info.mediaId))).not.toBeNull();
    expect(await env.MEDIA.head(blobKey(info.mediaId))).toBeNull();
    const res = await download(alice, `/v1/media/${info.mediaId}`);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(LANDSCAPE_PNG);
  });

  it('a direct conversation is unique per pair and placement', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const eu = (await create(alice, { kind: 'direct', peerId: bob.user.id, placement: { jurisdiction: 'eu' } })).conversation.id;
    expect((await create(bob, { kind: 'direct', peerId: alice.user.id, placement: { jurisdiction: 'eu' } })).conversation.id).toBe(eu);
    const anywhere = (await create(alice, { kind: 'direct', peerId: bob.user.id })).conversation.id;
    expect(anywhere).toBe(eu.slice('eu-'.length));
  });

  it('a location hint goes to the first creation of the object only', async () => {
    const [alice, bob] = [await registerUser('alice'), await registerUser('bob')];
    const getByName = vi.spyOn(env.CONVERSATIONS, 'getByName');
    const { conversation } = await create(alice, { kind: 'group', title: 'hinted', memberIds: [bob.user.id], placement: { locationHint: 'weur' } });
    expect(conversation.id).toMatch(/^g_/);
    expect(getByName).toHaveBeenCalledWith(conversation.id, { locationHint: 'weur' });
    getByName.mockClear();
    await json(`/v1/conversations/${conversation.id}`, { token: bob.accessToken }, 200);
    expect(getByName).toHaveBeenCalledWith(conversation.id);
  });

  it('refuses an unknown jurisdiction, an unknown hint, or both at once', async () => {
    const alice = await registerUser('alice');
    for (const placement of [{ jurisdiction: 'mars' }, { locationHint: 'moon' }, { jurisdiction: 'eu', locationHint: 'weur' }]) {
      const res = await create(alice, { kind: 'group', title: 'x', placement }, 400);
      expect(res.code, JSON.stringify(placement)).toBe('invalid_request');
    }
  });
});
