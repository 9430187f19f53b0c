/**
 * Reliability inside workerd: Durable Objects evicted at the worst moments. A
 * conversation evicted while sends are in flight (every send retried with its cmid until
 * answered), and members' user objects evicted again and again while the fan-out
 * delivers to them. Each message is stored once, every answer names its seq, and every
 * member's device stream carries every event once, in order.
 */
import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { createGroup } from './helpers.js';
import { serviceUser } from './abuse-helpers.js';
import { describeCounts, evict, expectExactlyOnceInOrder, history, range, readStream, sendUntilStored, type Answer } from './reliability-helpers.js';

describe('evictions', () => {
  it('a conversation evicted during sends stores each message once and fans every one out once', { timeout: 60_000 }, async () => {
    const [alice, bob, carol] = [await serviceUser('alice'), await serviceUser('bob'), await serviceUser('carol')];
    const id = await createGroup(alice, [bob, carol], 'evicted during sends');
    await env.USERS.getByName(carol.user.id).readEvents(carol.deviceId, 0); // carol's device is known: its stream starts now
    const conversation = env.CONVERSATIONS.getByName(id);
    const answers = new Map<string, Answer[]>();
    const waves = 6;
    let evictions = 0;
    for (let wave = 0; wave < waves; wave++) {
      const sends = Array.from({ length: 20 }, (_, i) => {
        const cmid = `ev${wave}x${i}${crypto.randomUUID().slice(0, 8)}`;
        const sender = i % 2 === 0 ? alice : bob;
        return sendUntilStored(sender, id, cmid, `wave ${wave} #${i}`).then((a) => answers.set(cmid, a));
      });
      // Evicted while the wave is in flight, and once more right after it.
      await new Promise((r) => setTimeout(r, wave * 3));
      if (await evict(conversation)) evictions++;
      await Promise.all(sends);
      if (wave % 2 === 1 && (await evict(conversation))) evictions++;
    }
    const events = await history(alice, id);
    expect(events.map((e) => e.seq)).toEqual(range(1, waves * 20));
    const stored = new Map(events.map((e) => [e.cmid!, e.seq]));
    expect(stored.size).toBe(waves * 20);
    for (const [cmid, list] of answers) {
      for (const answer of list.filter((a) => a.status === 200 || a.status === 201)) expect(answer.seq, cmid).toBe(stored.get(cmid));
    }
    expect(evictions).toBeGreaterThan(0);
    const failedInFlight = [...answers.values()].flat().filter((a) => a.status === 0 || a.status >= 500).length;
    const carolCounts = expectExactlyOnceInOrder(await readStream(carol, id, waves * 20), range(1, waves * 20), 'carol');
    console.log(`[reliability] eviction during sends: ${waves * 20} sends, ${evictions} evictions, ${failedInFlight} calls failed in flight and were retried; stored once each; device streams: ${describeCounts([carolCounts], waves * 20)}`);
  });

  it('members evicted again and again during fan-out still get every event once, in order', { timeout: 60_000 }, async () => {
    const [alice, ...members] = [await serviceUser('alice'), await serviceUser('bob'), await serviceUser('carol'), await serviceUser('dave')];
    const id = await createGroup(alice, members, 'evicted during fan-out');
    for (const m of members) await env.USERS.getByName(m.user.id).readEvents(m.deviceId, 0);
    let evicting = true;
    let evictions = 0;
    const evictor = (async () => {
      for (let round = 0; evicting && round < 500; round++) {
        const evicted = await Promise.all(members.map((m) => evict(env.USERS.getByName(m.user.id))));
        evictions += evicted.filter(Boolean).length;
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    const total = 150;
    for (let i = 0; i < total; i += 25) {
      await Promise.all(range(i, i + 24).map((n) => sendUntilStored(alice, id, `fan${n}x${crypto.randomUUID().slice(0, 8)}`, `#${n}`)));
    }
    await new Promise((r) => setTimeout(r, 500)); // fan-out passes run on, under evictions
    evicting = false;
    await evictor;
    expect(evictions).toBeGreaterThan(10);
    const counts = [];
    for (const m of members) counts.push(expectExactlyOnceInOrder(await readStream(m, id, total), range(1, total), m.user.handle));
    console.log(`[reliability] eviction during fan-out: ${total} messages to ${members.length} members, ${evictions} user-object evictions; device streams: ${describeCounts(counts, total)}`);
  });
});
