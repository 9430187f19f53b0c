/**
 * Long absence: one of Alice's two devices goes offline while the group moves on:
 * hundreds of messages (thousands at full size) from three senders, edits, deletes for
 * everyone, reactions added and taken back, members added and removed. When it comes
 * back it catches up (its device event stream's backlog, the window's history pages and
 * the events after them) and must show exactly what her device that stayed online
 * shows, and what the server has: every message's content, edits, tombstones and
 * reactions, and the member list.
 */
import { afterAll, expect, it } from 'vitest';
import type { ConversationEvent } from '../../src/client/index.js';
import { describeVerdict } from './checker.js';
import { report } from './figures.js';
import { sleep, spawnFleet, type Device } from './fleet.js';
import { readHistory } from './oracle.js';
import { rng, runSeed } from './prng.js';
import { openAll, sendBursts, serviceHandle, settle, verdictOf, type RunConversation } from './scenario.js';
import { startServer, type Server } from './server.js';
import { SETTLE_TIMEOUT_MS, SIZES } from './sizes.js';

const PORT = 8835;
let server: Server | undefined;
let devices: Device[] = [];

afterAll(async () => {
  devices.forEach((d) => d.stop());
  await server?.stop();
});

async function register(url: string, handle: string): Promise<string> {
  const res = await fetch(`${url}/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ handle, displayName: handle, password: 'correct horse battery', deviceName: 'absence' }),
  });
  if (!res.ok) throw new Error(`register ${handle}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { user: { id: string } }).user.id;
}

/** The member set a device's window events imply, from the members the group started with. */
function membersShown(device: Device, c: string, initial: readonly string[]): string[] {
  const members = new Set(initial);
  for (const o of device.observations) {
    if (o.k !== 'ev' || o.c !== c) continue;
    if (o.e.type === 'member_added') members.add(o.e.userId);
    if (o.e.type === 'member_removed') members.delete(o.e.userId);
  }
  return [...members].sort();
}

it('long absence: a device offline across messages, edits, deletes, reactions and membership changes converges to the state of one that stayed online', { timeout: 600_000 }, async () => {
  const started = Date.now();
  const seed = runSeed();
  console.log(`[reliability] absence seed ${seed} (replay: RELIABILITY_SEED=${seed})`);
  const random = rng(seed);
  server = await startServer(PORT);
  const [alice, bob, carol] = ['alice', 'bob', 'carol'].map(serviceHandle) as [string, string, string];
  devices = await spawnFleet(
    [
      { name: 'alice-online', wire: 'websocket', handle: alice, register: true },
      { name: 'alice-away', wire: 'sse', handle: alice, register: false },
      { name: 'bob', wire: 'websocket', handle: bob, register: true },
      { name: 'carol', wire: 'long-poll', handle: carol, register: true },
    ],
    server.url,
  );
  const [online, away, bobD, carolD] = devices as [Device, Device, Device, Device];
  const extras = await Promise.all(['dave', 'erin'].map((n) => register(server!.url, serviceHandle(n))));
  const groupId = await online.call<string>({ op: 'createGroup', title: 'absence', memberIds: [bobD.userId, carolD.userId] });
  const initial = [online.userId, bobD.userId, carolD.userId];
  const everyone: RunConversation = { id: groupId, name: 'group', viewers: devices, inboxReaders: devices };
  const stayed: RunConversation = { ...everyone, viewers: [online, bobD, carolD], inboxReaders: [online, bobD, carolD] };
  await openAll([everyone]);
  const senders = [online, bobD, carolD].map((device) => ({ device, c: groupId }));
  await sendBursts(senders, 20, 300, random, 'before');
  await settle(server.url, [everyone], SETTLE_TIMEOUT_MS);

  await away.call({ op: 'offline' });
  const wentAway = Date.now();
  const { messages, edits, deletes, reactions, membershipChanges } = SIZES.absence;
  const token = () => online.call<string>({ op: 'token' });
  const authorOf = new Map([online, bobD, carolD].map((d) => [d.userId, d]));
  const deleted = new Set<number>();
  const ops = { edits: 0, deletes: 0, reactions: 0, unreactions: 0, membership: 0 };
  const slices = 10;
  for (let slice = 0; slice < slices; slice++) {
    await sendBursts(senders, Math.ceil(messages / slices), 500, random, `away${slice}`);
    await settle(server.url, [stayed], SETTLE_TIMEOUT_MS);
    const history = await readHistory(server.url, await token(), groupId);
    const live = history.filter((e): e is Extract<ConversationEvent, { type: 'message' }> => e.type === 'message' && !deleted.has(e.seq) && e.content !== undefined);
    for (let i = 0; i < Math.ceil(edits / slices) && live.length > 0; i++) {
      const m = random.pick(live);
      await authorOf.get(m.author.userId)!.call({ op: 'edit', c: groupId, seq: m.seq, text: `edited ${slice}-${i}` });
      ops.edits++;
    }
    for (let i = 0; i < Math.ceil(reactions / slices) && live.length > 0; i++) {
      const m = random.pick(live);
      const who = random.pick([online, bobD, carolD]);
      const emoji = random.pick(['👍', '🎉', '❤️']);
      await who.call({ op: 'react', c: groupId, seq: m.seq, emoji, remove: false });
      ops.reactions++;
      if (random.chance(0.3)) {
        await who.call({ op: 'react', c: groupId, seq: m.seq, emoji, remove: true });
        ops.unreactions++;
      }
    }
    for (let i = 0; i < Math.ceil(deletes / slices) && live.length > 0; i++) {
      const m = random.pick(live);
      if (deleted.has(m.seq)) continue;
      await authorOf.get(m.author.userId)!.call({ op: 'delete', c: groupId, seq: m.seq });
      deleted.add(m.seq);
      ops.deletes++;
    }
    for (let i = 0; i < Math.ceil(membershipChanges / slices) && ops.membership < membershipChanges; i++) {
      const extra = extras[ops.membership % extras.length]!;
      // Each extra member is added, then removed the next time round.
      const inGroup = Math.floor(ops.membership / extras.length) % 2 === 0;
      await online.call({ op: inGroup ? 'addMember' : 'removeMember', c: groupId, userId: extra });
      ops.membership++;
    }
  }
  const awayMs = Date.now() - wentAway;
  const headWhileAway = (await readHistory(server.url, await token(), groupId)).length;

  await away.call({ op: 'online' });
  const back = Date.now();
  await settle(server.url, [everyone], SETTLE_TIMEOUT_MS);
  const caughtUpMs = Date.now() - back;
  await sleep(300); // a duplicate would arrive now
  const verdict = await verdictOf(server.url, [everyone], devices);
  const membersRes = await fetch(`${server.url}/v1/conversations/${groupId}/members`, { headers: { authorization: `Bearer ${await token()}` } });
  const serverMembers = ((await membersRes.json()) as { members: { userId: string }[] }).members.map((m) => m.userId).sort();
  const awayView = verdict.devices.find((d) => d.device === 'alice-away')!;
  report(
    'absence',
    { seed, awayMs, eventsWhileAway: headWhileAway, ops, caughtUpMs, totals: verdict.totals, devices: verdict.devices, elapsedMs: Date.now() - started },
    [
      `seed ${seed}: alice-away offline ${awayMs} ms across ${headWhileAway - 20} events (${messages} messages, ${ops.edits} edits, ${ops.deletes} deletes, ${ops.reactions} reactions and ${ops.unreactions} taken back, ${ops.membership} membership changes); caught up in ${caughtUpMs} ms`,
      describeVerdict(verdict),
      `members: server ${serverMembers.length}, alice-away shows ${membersShown(away, groupId, initial).length}, alice-online ${membersShown(online, groupId, initial).length}`,
      `run ${Date.now() - started} ms`,
    ].join('\n'),
  );
  expect(verdict.problems).toEqual([]);
  expect(verdict.totals).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0, viewDiffers: 0, failed: 0 });
  expect(awayView.delivered).toBe(headWhileAway);
  expect(membersShown(away, groupId, initial)).toEqual(serverMembers);
  expect(membersShown(online, groupId, initial)).toEqual(serverMembers);
});
