import { describe, expect, it } from 'vitest';
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import fc from 'fast-check';
import * as log from '../../src/conversation/log.js';
import { ConversationStore } from '../../src/conversation/store.js';

const author = { userId: 'u_alice', deviceId: 'd_alice' };

function message(ts: number, n: number, text = `m${n}`): log.NewEvent & { cmid: string } {
  return { type: 'message', ts, author, cmid: `c${n}`, content: { type: 'text', text } };
}

function freshLog<T>(fn: (store: ConversationStore, sql: SqlStorage) => T): Promise<T> {
  return runInDurableObject(env.CONVERSATIONS.getByName(`log-${crypto.randomUUID()}`), (_instance, state) => fn(new ConversationStore(state.storage), state.storage.sql));
}

describe('the event log', () => {
  it('an event never has an earlier ts than the one before it, even when the clock steps back', async () => {
    const stored = await freshLog((store, sql) => {
      const returned = [500, 450, 520].map((ts, i) => log.appendUnlessSent(store, message(ts, i))!.ts);
      const rows = sql.exec<{ ts: number }>('SELECT ts FROM events ORDER BY seq').toArray().map((r) => r.ts);
      return { returned, rows };
    });
    expect(stored).toEqual({ returned: [500, 500, 520], rows: [500, 500, 520] });
  });

  it('firstSeqAfter finds the first event stored after a time, or the next seq (property, against a scan)', async () => {
    const cases = fc.sample(
      fc.record({
        gaps: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 40 }),
        probes: fc.array(fc.integer({ min: 0, max: 130 }), { minLength: 1, maxLength: 10 }),
      }),
      { numRuns: 30, seed: 6 },
    );
    const results = await freshLog((store, sql) =>
      cases.map(({ gaps, probes }) => {
        sql.exec('DELETE FROM events');
        store.reset();
        const times: number[] = [];
        gaps.forEach((gap, i) => {
          times.push((times.at(-1) ?? 1) + gap);
          log.appendUnlessSent(store, message(times.at(-1)!, i));
        });
        return probes.map((since) => ({ found: log.firstSeqAfter(store, since), scanned: times.findIndex((t) => t > since) + 1 || times.length + 1 }));
      }),
    );
    for (const probes of results) for (const { found, scanned } of probes) expect(found).toBe(scanned);
  });

  it('the log has no index by time (a page more per insert); a window is found by seq', async () => {
    const indexes = await freshLog((_store, sql) =>
      sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL ORDER BY name").toArray().map((r) => r.name),
    );
    expect(indexes).toEqual(['events_by_cmid', 'events_by_edit_target']);
  });

  it('the recent events held in memory are always what the log would give (bounded by count and size), and `after` reads the same from either', async () => {
    // Short texts past the count bound, then large ones past the size bound, then short again.
    const short = (n: number) => fc.sample(fc.integer({ min: 1, max: 40 }), { numRuns: n, seed: n });
    const sizes = [...short(270), ...fc.sample(fc.integer({ min: 100_000, max: 400_000 }), { numRuns: 8, seed: 19 }), ...short(30)];
    const outcome = await freshLog((store, sql) => {
      const mismatches: string[] = [];
      let heldMax = 0;
      log.after(store, 0, 1);
      sizes.forEach((size, n) => {
        log.appendUnlessSent(store, message(1_000 + n, n, 'x'.repeat(size)));
        const held = store.get(log.RECENT);
        heldMax = Math.max(heldMax, held.events.length);
        if (JSON.stringify(held) !== JSON.stringify(log.RECENT.load(sql))) mismatches.push(`after append ${n}`);
        for (const from of [0, n - 300, n - 100, n - 3, n]) {
          const fromMemory = log.after(store, Math.max(0, from), 250);
          const stored = sql.exec<{ seq: number }>('SELECT seq FROM events WHERE seq > ? ORDER BY seq LIMIT 250', Math.max(0, from)).toArray();
          if (JSON.stringify(fromMemory.map((e) => e.seq)) !== JSON.stringify(stored.map((r) => r.seq))) mismatches.push(`after(${from}) at ${n}`);
        }
      });
      const last = store.get(log.RECENT);
      return { mismatches, heldMax, held: last.events.length, chars: last.total };
    });
    expect(outcome.mismatches).toEqual([]);
    expect(outcome.heldMax).toBe(log.RECENT_KEPT.events);
    // The large bodies pushed most of the short ones out.
    expect(outcome.held).toBeLessThan(60);
    expect(outcome.chars).toBeLessThanOrEqual(log.RECENT_KEPT.bodyChars);
  });
});
