import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { createGroup, json, openWindow, registerUser, type TestSocket } from './helpers.js';
import { cmid, text } from './lifecycle-helpers.js';
import { service } from './abuse-helpers.js';
import { GROUP_COMMIT, GroupCommit } from '../../src/conversation/group-commit.js';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('group commit', () => {
  it('a send after a quiet spell goes at once; sends in a burst wait for one tick, released in the order they came', async () => {
    let clock = 1_000_000;
    const group = new GroupCommit(() => clock);
    expect(group.join()).toBeNull();
    const order: number[] = [];
    clock += 1;
    const first = group.join();
    clock += GROUP_COMMIT.activeMs * 10;
    const second = group.join();
    expect(first).not.toBeNull();
    // While a group waits, every send joins it, however long since the last one.
    expect(second).toBe(first);
    await Promise.all([first!.then(() => order.push(1)), second!.then(() => order.push(2))]);
    expect(order).toEqual([1, 2]);
    clock += GROUP_COMMIT.activeMs;
    expect(group.join()).toBeNull();
    const next = group.join();
    expect(next).not.toBeNull();
    expect(next).not.toBe(first);
    await next;
  });

  it('in a conversation at 20 messages a second, frames wait a tick while the runtime is behind (a late tick, or a group of several), go at once once it has caught up, one in probeEvery looking again', async () => {
    // 50 direct conversations at their fastest each see a frame every ~40 ms on one runtime
    // (bench `50x2 parallel`): going alone, every one paid a commit (docs/BENCHMARKS.md).
    let clock = 1_000_000;
    let tickTakes = 0;
    const group = new GroupCommit(() => clock);
    const frame = () => {
      clock += 50;
      const waiting = group.join();
      // The tick fires `tickTakes` ms after it was set.
      if (waiting) clock += tickTakes;
      return waiting;
    };
    expect(group.join()).toBeNull();
    // An idle runtime: frames go at once but for the probe.
    tickTakes = 0;
    const idle: boolean[] = [];
    for (let k = 0; k < 2 * GROUP_COMMIT.probeEvery; k++) {
      const waiting = frame();
      idle.push(waiting !== null);
      await waiting;
    }
    expect(idle.filter(Boolean)).toHaveLength(2);
    expect(idle[GROUP_COMMIT.probeEvery - 1]).toBe(true);
    // The runtime falls behind: the next probe's tick fires late, and from then every frame waits.
    tickTakes = GROUP_COMMIT.lateMs + 5;
    let waited = 0;
    for (let k = 0; k < GROUP_COMMIT.probeEvery; k++) {
      const waiting = frame();
      if (waiting) waited += 1;
      await waiting;
    }
    expect(waited).toBe(1);
    for (let k = 0; k < 5; k++) {
      const waiting = frame();
      expect(waiting).not.toBeNull();
      await waiting;
    }
    // It catches up: after probeEvery prompt ticks with one frame each, frames go at once again.
    tickTakes = 0;
    for (let k = 0; k < GROUP_COMMIT.probeEvery; k++) {
      const waiting = frame();
      expect(waiting).not.toBeNull();
      await waiting;
    }
    expect(frame()).toBeNull();
  });

  it('sends arriving together from two senders: each acked once in its sender\'s order, seqs gap-free, every window gets each once, all durable', async () => {
    // Service accounts: 300 sends at once are far past a person's message limits.
    const [alice, bob] = [await service(await registerUser('alice')), await service(await registerUser('bob'))];
    const id = await createGroup(alice, [bob]);
    const [aw, bw] = [await openWindow(alice, id), await openWindow(bob, id)];
    const perSender = 150;
    const sent = new Map<TestSocket, string[]>([
      [aw, []],
      [bw, []],
    ]);
    for (let n = 0; n < perSender; n++) {
      for (const [w, cmids] of sent) {
        const c = cmid();
        cmids.push(c);
        w.send({ type: 'send', cmid: c, content: text(`together ${n}`) });
      }
    }
    const seqs: number[] = [];
    for (const [w, cmids] of sent) {
      const acks = await w.until((f) => {
        const got = f.flatMap((x) => (x.type === 'ack' ? [x] : []));
        return got.length >= perSender ? got : undefined;
      }, 'all acks', 30_000);
      expect(acks.map((a) => a.cmid)).toEqual(cmids);
      const own = acks.map((a) => a.seq);
      expect(own).toEqual([...own].sort((a, b) => a - b));
      seqs.push(...own);
    }
    expect(seqs.sort((a, b) => a - b)).toEqual(range(1, 2 * perSender));
    for (const w of [aw, bw]) {
      await w.until(() => w.events().length >= 2 * perSender, 'all events', 30_000);
      expect(w.events().map((e) => e.seq)).toEqual(range(1, 2 * perSender));
    }
    aw.close();
    bw.close();
    const stub = env.CONVERSATIONS.getByName(id);
    await evictDurableObject(stub);
    const stored = await runInDurableObject(stub, (_i, state) =>
      state.storage.sql.exec<{ n: number; last: number }>("SELECT count(*) AS n, max(seq) AS last FROM events WHERE type = 'message'").one(),
    );
    expect(stored).toEqual({ n: 2 * perSender, last: 2 * perSender });
  });

  it('HTTP sends arriving together with socket sends: each answered once, seqs gap-free across both paths, all stored', async () => {
    const [alice, bob] = [await service(await registerUser('alice')), await service(await registerUser('bob'))];
    const id = await createGroup(alice, [bob]);
    const aw = await openWindow(alice, id);
    const over = 40;
    const cmids = Array.from({ length: over }, () => cmid());
    for (const c of cmids) aw.send({ type: 'send', cmid: c, content: text('by socket') });
    const posted = await Promise.all(
      Array.from({ length: over }, () => json<{ seq: number }>(`/v1/conversations/${id}/messages`, { token: bob.accessToken, body: { cmid: cmid(), content: text('by http') } }, 201)),
    );
    const acks = await aw.until((f) => {
      const got = f.flatMap((x) => (x.type === 'ack' ? [x.seq] : []));
      return got.length >= over ? got : undefined;
    }, 'socket acks', 30_000);
    expect([...acks, ...posted.map((p) => p.seq)].sort((a, b) => a - b)).toEqual(range(1, 2 * over));
    aw.close();
    const stored = await runInDurableObject(env.CONVERSATIONS.getByName(id), (_i, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM events WHERE type = 'message'").one().n,
    );
    expect(stored).toBe(2 * over);
  });
});
