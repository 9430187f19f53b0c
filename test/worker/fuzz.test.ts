/**
 * Fuzzing the edges: over 10,000 generated malformed frames and bodies thrown at the
 * chat-window socket, the inbox socket and a route. Every one must be answered with a
 * documented error code (never a 5xx or a crash), and nothing may be stored.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import protocolDoc from '../../docs/PROTOCOL.md?raw';
import { call, createGroup, json, openWindow, registerUser } from './helpers.js';
import { openInbox } from './inbox-helpers.js';
import { ERROR_CODES, LIMITS } from '../../src/protocol/index.js';

const structures = [fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 })];

/** A value that cannot stand where `original` stood: another JSON type (or a negative or fractional number for a number). */
function wrongFor(original: unknown): fc.Arbitrary<unknown> {
  if (typeof original === 'number') return fc.oneof(fc.string({ maxLength: 5 }), fc.double({ min: -1e6, max: -0.5, noNaN: true }), ...structures);
  return fc.oneof(fc.integer(), ...structures);
}

/** A valid frame made invalid one way or another: a field of the wrong type, a missing or an extra one. */
function broken(valid: Record<string, unknown>, required: string[]): fc.Arbitrary<string> {
  const keys = Object.keys(valid);
  return fc.oneof(
    fc.constantFrom(...keys.filter((k) => k !== 'type')).chain((k) => wrongFor(valid[k]).map((v) => JSON.stringify({ ...valid, [k]: v }))),
    fc.constantFrom(...required).map((k) => JSON.stringify(Object.fromEntries(Object.entries(valid).filter(([key]) => key !== k)))),
    fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !keys.includes(k) && k !== '__proto__').map((k) => JSON.stringify({ ...valid, [k]: 1 })),
  );
}

/** Anything that is not a valid frame: not JSON, not an object, unknown types, too deep, too big. */
function garbage(valid: Record<string, unknown>, required: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: broken(valid, required) },
    { weight: 2, arbitrary: fc.string({ maxLength: 40 }).filter((s) => !isObjectJson(s)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 10 }).filter((t) => !['send', 'history', 'read', 'typing', 'edit', 'delete', 'react', 'ack'].includes(t)).map((t) => JSON.stringify({ ...valid, type: t })) },
    { weight: 1, arbitrary: fc.integer({ min: LIMITS.maxJsonDepth + 1, max: 200 }).map((d) => `${'['.repeat(d)}${']'.repeat(d)}`) },
  );
}

function isObjectJson(s: string): boolean {
  try {
    const v: unknown = JSON.parse(s);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

const documented = (code: string) => ERROR_CODES.includes(code as never) && protocolDoc.includes(`\`${code}\``);

describe('fuzz', () => {
  it('10,000+ malformed frames and bodies: each answered with a documented error code, nothing stored, no 5xx', async () => {
    const alice = await registerUser('alice');
    const bob = await registerUser('bob');
    const id = await createGroup(alice, [bob]);
    await json(`/v1/conversations/${id}/messages`, { token: alice.accessToken, body: { cmid: crypto.randomUUID(), content: { type: 'text', text: 'first' } } }, 201);
    const before = await json(`/v1/conversations/${id}/events?after=0`, { token: alice.accessToken }, 200);

    const send = { type: 'send', rid: 'r1', cmid: 'cmid-0001', content: { type: 'text', text: 'hi' } };
    const chatFrames = fc.sample(fc.oneof(garbage(send, ['cmid', 'content']), broken({ type: 'typing', state: 'start' }, ['state']), broken({ type: 'read', seq: 1 }, ['seq'])), { numRuns: 4_000, seed: 7 });
    const inboxFrames = fc.sample(garbage({ type: 'ack', cursor: 1 }, ['cursor']), { numRuns: 2_500, seed: 8 });
    const bodies = fc.sample(garbage({ cmid: 'cmid-0001', content: { type: 'text', text: 'hi' } }, ['cmid', 'content']), { numRuns: 3_600, seed: 9 });
    // A few frames over the size limit, too.
    const huge = JSON.stringify({ ...send, content: { type: 'text', text: 'x'.repeat(LIMITS.maxFrameBytes) } });
    chatFrames.push(huge, huge);
    expect(chatFrames.length + inboxFrames.length + bodies.length).toBeGreaterThanOrEqual(10_000);

    const window = await openWindow(alice, id);
    const startAt = window.frames.length;
    for (const frame of chatFrames) window.send(frame);
    await window.until((f) => f.length - startAt >= chatFrames.length, `${chatFrames.length} replies`, 60_000);
    const chatReplies = window.frames.slice(startAt);

    const inbox = await openInbox(bob);
    const inboxStart = inbox.frames.length;
    for (const frame of inboxFrames) inbox.socket.send(frame);
    await inbox.until(() => inbox.frames.length - inboxStart >= inboxFrames.length, `${inboxFrames.length} inbox replies`, 60_000);
    const inboxReplies = inbox.frames.slice(inboxStart);

    const statuses: { status: number; code: string }[] = [];
    for (let i = 0; i < bodies.length; i += 100) {
      const batch = await Promise.all(
        bodies.slice(i, i + 100).map(async (rawBody) => {
          const res = await call(`/v1/conversations/${id}/messages`, { token: alice.accessToken, rawBody, headers: { 'content-type': 'application/json' }, method: 'POST' });
          return { status: res.status, code: (await res.json<{ code: string }>()).code };
        }),
      );
      statuses.push(...batch);
    }

    for (const reply of [...chatReplies, ...inboxReplies]) {
      expect(reply.type).toBe('error');
      expect(documented((reply as { code: string }).code), JSON.stringify(reply)).toBe(true);
    }
    for (const { status, code } of statuses) {
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(500);
      expect(documented(code), code).toBe(true);
    }
    expect(window.closed).toBeNull();
    expect(await json(`/v1/conversations/${id}/events?after=0`, { token: alice.accessToken }, 200)).toEqual(before);
    window.close();
    inbox.socket.close();
  }, 180_000);
});
