/**
 * @module test/reliability/scenario
 * What the scenarios share: accounts, opening every window, waiting (bounded) for a run
 * to settle once its faults end, and the checker's verdict against the server's history.
 */
import type { ConversationEvent } from '../../src/client/index.js';
import { check, type CheckedConversation, type Verdict } from './checker.js';
import type { Device } from './fleet.js';
import { sleep } from './fleet.js';
import { headOf, readHistory } from './oracle.js';
export { serviceHandle } from '../e2e/migrated-state.js';

/** A conversation of a run: who must see its every event, in the window and on the device stream. */
export interface RunConversation {
  id: string;
  name: string;
  viewers: Device[];
  inboxReaders: Device[];
}

/** A handle on the ordinary (`new`) tier. */
export function personHandle(name: string): string {
  return `${name}_${Math.random().toString(36).slice(2, 8)}`;
}

/** Starts each device's event stream and opens its windows; waits until every window is open. */
export async function openAll(conversations: readonly RunConversation[], timeoutMs = 30_000): Promise<void> {
  const devices = new Set(conversations.flatMap((c) => [...c.viewers, ...c.inboxReaders]));
  await Promise.all([...devices].map((d) => d.call({ op: 'connect' })));
  for (const c of conversations) await Promise.all(c.viewers.map((d) => d.call({ op: 'open', c: c.id })));
  await waitOpen([...devices], timeoutMs);
}

export async function waitOpen(devices: readonly Device[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const statuses = await Promise.all(devices.map((d) => d.status()));
    const closed = statuses.flatMap((s, i) => Object.entries(s.conversations).filter(([, w]) => w.status !== 'open').map(([c, w]) => `${devices[i]!.name}:${c}=${w.status}`));
    if (closed.length === 0) return;
    if (Date.now() > deadline) throw new Error(`windows not open after ${timeoutMs} ms: ${closed.join(', ')}`);
    await sleep(100);
  }
}

/** A fresh token of a device that can read `c` (through the SDK, which refreshes it). */
function tokenFor(c: RunConversation): Promise<string> {
  return c.viewers[0]!.call<string>({ op: 'token' });
}

/**
 * Waits until nothing is moving: every window open, showing its conversation's head,
 * with nothing pending, and every device stream carrying the last message from others.
 * Returns the heads. Throws after `timeoutMs` saying who is behind.
 */
export async function settle(url: string, conversations: readonly RunConversation[], timeoutMs: number): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  let behind: string[] = [];
  for (;;) {
    const heads = new Map<string, number>();
    for (const c of conversations) heads.set(c.id, await headOf(url, await tokenFor(c), c.id));
    behind = [];
    for (const c of conversations) {
      const statuses = await Promise.all(c.viewers.map((d) => d.status()));
      statuses.forEach((s, i) => {
        const w = s.conversations[c.id];
        if (!w || w.status !== 'open' || w.pending > 0 || w.lastSeq < heads.get(c.id)!) {
          const d = c.viewers[i]!;
          const recent = d.observations.filter((o) => (o.k === 'st' && o.c === c.id) || o.k === 'tr' || o.k === 'err' || o.k === 'resync' || o.k === 'http' || (o.k === 'ws' && o.what.includes(c.id))).slice(-10);
          const trail = recent.map((o) => `${o.k}:${'status' in o ? `${o.status}${o.why ? ` (${o.why})` : ''}` : 'state' in o ? `${o.kind}/${o.state}` : 'code' in o ? o.code : 'result' in o ? `${o.what}=${o.result}` : 'what' in o ? o.what.replace(/.*\//, '') : ''}@${o.at - Date.now()}ms`).join(' ');
          behind.push(`${d.name} in ${c.name}: ${w ? `${w.status}, seq ${w.lastSeq}/${heads.get(c.id)}, ${w.pending} pending` : 'not open'}; wire ${s.wire?.kind}/${s.wire?.state}; recent ${trail}; ${sendTrail(d, c.id)}; calls in flight: ${s.inFlight.map((call) => `${call.what} ${call.ms} ms`).join(', ') || 'none'}`);
        }
      });
    }
    if (behind.length === 0) {
      // Windows are done; now the device streams, against the history.
      const histories = await histories_(url, conversations);
      const streamsBehind = inboxBehind(conversations, histories);
      if (streamsBehind.length === 0) return heads;
      behind = streamsBehind;
    }
    if (Date.now() > deadline) {
      const probes = await Promise.all(conversations.map((c) => probeSend(url, c)));
      throw new Error(`not settled after ${timeoutMs} ms:\n  ${behind.slice(0, 20).join('\n  ')}\n  direct sends now (no proxy): ${probes.join('; ')}`);
    }
    await sleep(250);
  }
}

/** What became of a device's sends in `c`: the last queued and acked, and its failed posts (a window stuck with sends pending). */
function sendTrail(d: Device, c: string): string {
  const at = (o: { at: number } | undefined) => (o ? `${o.at - Date.now()}ms` : 'never');
  const mine = d.observations.filter((o) => (o.k === 'q' || o.k === 'ack' || o.k === 'fail') && o.c === c);
  const posts = d.observations.filter((o) => o.k === 'http' && o.what.startsWith('POST') && o.what.includes(c));
  const failed = posts.slice(-6).map((o) => `${'result' in o ? o.result : ''}@${at(o)}`);
  return `sends: last queued @${at(mine.findLast((o) => o.k === 'q'))}, last acked @${at(mine.findLast((o) => o.k === 'ack'))}, ${posts.length} failed posts (last: ${failed.join(' ') || 'none'})`;
}

/** Whether the server takes a send straight away (no proxy): tells a stuck client from a stuck server. */
async function probeSend(url: string, c: RunConversation): Promise<string> {
  const started = Date.now();
  try {
    const res = await fetch(`${url}/v1/conversations/${c.id}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await tokenFor(c)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cmid: `probe${Date.now()}`, content: { type: 'text', text: 'probe' } }),
      signal: AbortSignal.timeout(10_000),
    });
    return `${c.name} ${res.status} in ${Date.now() - started} ms`;
  } catch (error) {
    return `${c.name} ${(error as Error).name} after ${Date.now() - started} ms`;
  }
}

async function histories_(url: string, conversations: readonly RunConversation[]): Promise<Map<string, ConversationEvent[]>> {
  const out = new Map<string, ConversationEvent[]>();
  for (const c of conversations) out.set(c.id, await readHistory(url, await tokenFor(c), c.id));
  return out;
}

function inboxBehind(conversations: readonly RunConversation[], histories: Map<string, ConversationEvent[]>): string[] {
  const behind: string[] = [];
  for (const c of conversations) {
    const history = histories.get(c.id)!;
    for (const d of c.inboxReaders) {
      const last = [...history].reverse().find((e) => e.type === 'message' && e.author.deviceId !== d.deviceId);
      if (!last) continue;
      const seen = d.observations.some((o) => o.k === 'in' && o.events.some((de) => de.kind === 'event' && de.conversationId === c.id && de.event.seq >= last.seq));
      if (!seen) behind.push(`${d.name}'s device stream in ${c.name}: not at seq ${last.seq}`);
    }
  }
  return behind;
}

/** Reads every history and runs the checker over everything the devices reported. */
export async function verdictOf(url: string, conversations: readonly RunConversation[], devices: readonly Device[]): Promise<Verdict> {
  const histories = await histories_(url, conversations);
  const checked: CheckedConversation[] = conversations.map((c) => ({
    id: c.id,
    name: c.name,
    history: histories.get(c.id)!,
    viewers: c.viewers.map((d) => d.name),
    inboxReaders: c.inboxReaders.map((d) => d.name),
  }));
  return check(
    checked,
    devices.map((d) => ({ name: d.name, userId: d.userId, deviceId: d.deviceId, wire: d.wire, observations: d.observations })),
  );
}

/** Sends `count` messages from random senders in bursts of 5-40, spread over `spanMs`. */
export async function sendBursts(
  senders: readonly { device: Device; c: string }[],
  count: number,
  spanMs: number,
  random: { int(min: number, max: number): number; pick<T>(items: readonly T[]): T },
  label: string,
): Promise<number> {
  const started = Date.now();
  let sent = 0;
  const inFlight: Promise<unknown>[] = [];
  for (let burst = 0; sent < count; burst++) {
    const size = Math.min(count - sent, random.int(5, 40));
    const { device, c } = random.pick(senders);
    const texts = Array.from({ length: size }, (_, i) => `${label}-${device.name}-${burst}-${i}`);
    inFlight.push(device.call({ op: 'send', c, texts, gapMs: random.int(0, 3) }));
    sent += size;
    // Spread the bursts over the span, a little jitter around the even pace.
    const due = started + (spanMs * sent) / count;
    await sleep(Math.max(0, due - Date.now() + random.int(-20, 20)));
  }
  await Promise.all(inFlight);
  return sent;
}

/** What `mutateDuring` did: calls the server took, and calls that failed (refused, or cut off by a fault). */
export interface Mutations {
  edits: number;
  deletes: number;
  reactions: number;
  unreactions: number;
  failed: number;
  /** Why calls failed: the error code (or message start) and how often. */
  why: Record<string, number>;
}

/** Tries of one edit, delete or reaction cut off by faults (which come every few hundred ms). */
const MUTATION_ATTEMPTS = 5;

/**
 * Edits, deletes and reacts while a run's sends and faults go on, from `lanes` loops
 * that each pick a device and one of the messages it has (edits and deletes: its own
 * acked messages; reactions: any message its window showed) until `until` settles.
 * A call cut off by a fault is tried again (up to 5 times); one may still fail (a
 * message already deleted): what the server stored is what the checker compares every
 * device's view with, so failures are only counted.
 */
export async function mutateDuring(
  conversations: readonly RunConversation[],
  until: Promise<unknown>,
  random: { int(min: number, max: number): number; pick<T>(items: readonly T[]): T; chance(p: number): boolean },
  lanes = 10,
): Promise<Mutations> {
  const done: Mutations = { edits: 0, deletes: 0, reactions: 0, unreactions: 0, failed: 0, why: {} };
  let over = false;
  const stop = () => (over = true);
  until.then(stop, stop); // a failed run is reported by whoever awaits `until`
  const deleted = new Set<string>();
  const reacted: { device: Device; c: string; seq: number; emoji: string }[] = [];
  const lane = async () => {
    for (let i = 0; !over && i < 10_000; i++) {
      await sleep(random.int(30, 120));
      const conversation = random.pick(conversations);
      const device = random.pick(conversation.viewers);
      const roll = random.int(1, 100);
      const call = async (kind: 'edits' | 'deletes' | 'reactions' | 'unreactions', command: Parameters<Device['call']>[0], by = device) => {
        // Cut off by a fault: tried again, as an app would (a second edit or a repeated reaction is harmless).
        for (let attempt = 1; attempt <= MUTATION_ATTEMPTS; attempt++) {
          try {
            await by.call(command);
            done[kind]++;
            return;
          } catch (error) {
            const why = String((error as Error).message).replace(/^[^:]*: /, '').split(':')[0]!;
            if (why === 'network' && attempt < MUTATION_ATTEMPTS) {
              await sleep(random.int(100, 300));
              continue;
            }
            done.failed++;
            done.why[why] = (done.why[why] ?? 0) + 1;
            return;
          }
        }
      };
      if (roll <= 45) {
        const shown = device.observations.flatMap((o) => (o.k === 'ev' && o.c === conversation.id && o.e.type === 'message' && !deleted.has(`${o.c}/${o.e.seq}`) ? [o.e.seq] : []));
        if (shown.length === 0) continue;
        const seq = random.pick(shown);
        const emoji = random.pick(['👍', '🎉', '❤️']);
        reacted.push({ device, c: conversation.id, seq, emoji });
        await call('reactions', { op: 'react', c: conversation.id, seq, emoji, remove: false });
      } else if (roll <= 60 && reacted.length > 0) {
        const r = reacted.splice(random.int(0, reacted.length - 1), 1)[0]!;
        await call('unreactions', { op: 'react', c: r.c, seq: r.seq, emoji: r.emoji, remove: true }, r.device);
      } else {
        const own = device.observations.flatMap((o) => (o.k === 'ack' && o.c === conversation.id && !deleted.has(`${o.c}/${o.seq}`) ? [o.seq] : []));
        if (own.length === 0) continue;
        const seq = random.pick(own);
        if (roll <= 85) await call('edits', { op: 'edit', c: conversation.id, seq, text: `edited ${seq} by ${device.name} (${i})` });
        else {
          deleted.add(`${conversation.id}/${seq}`);
          await call('deletes', { op: 'delete', c: conversation.id, seq });
        }
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  return done;
}

export function describeMutations(m: Mutations): string {
  const why = Object.entries(m.why).map(([code, n]) => `${code} ${n}`).join(', ');
  return `${m.edits} edits, ${m.deletes} deletes, ${m.reactions} reactions, ${m.unreactions} taken back (${m.failed} calls failed or refused${why ? `: ${why}` : ''})`;
}
