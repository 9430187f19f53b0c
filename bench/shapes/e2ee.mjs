/**
 * @module bench/shapes/e2ee
 * The send path of end-to-end encrypted conversations next to plain ones (issue 17): the
 * same load generator (bench/load.mjs `runChat`: sockets, closed loop, measurements), the
 * same users and sockets, the same run, only the conversation and what is sent differ.
 *
 * - `e2ee-send group 10 max`: a group of 10, a chat window per member, the first 2
 *   members sending with `window` sends in flight each (as `group 10 max`). `plain`
 *   sends a short text (48 characters, numbered); `sender_key` sends what the SDK sends
 *   for that text in a group's steady state: a Sender Key message and no entries (every
 *   device already has the sender's key). The server then writes each socket a text of
 *   its own (src/protocol/envelopes.ts `perDeviceEncoder`) where a plain group shares
 *   one, and the envelope goes through the same fan-out to the members' objects.
 *   `e2ee-send group 10 100/s`: the same at 100 messages a second in total (open loop),
 *   for latencies without queues.
 * - `e2ee-send direct 2x2 max`: a direct conversation, both users with two devices, a chat
 *   window per device, the first device of each user sending. `plain` sends the text;
 *   `pairwise`, the SDK's pairwise envelope: the payload sealed once and an entry for each
 *   of the 3 other devices (a Double Ratchet message, sessions answered); each device
 *   gets the body and its own entry only.
 *
 * Envelopes are real: made by the SDK (bench/e2ee-sdk.mjs) when the conversation is
 * created, for its id and the real user and device ids, in the steady state, a pool of
 * ENVELOPES per sender used in turn. The server cannot tell one ciphertext from another,
 * and making each on the fly would cost the load generator about 1 ms a message (see the
 * crypto micro-benchmark), more than the service spends on it.
 */
import { loadSdk, SHORT_TEXT, steadyConversation } from '../e2ee-sdk.mjs';

/** Envelopes made per sender and room, sent in turn. */
const ENVELOPES = 256;
const GROUP = 10;
/** Made-up client addresses for the second devices' logins (load.mjs `benchAddress`), apart from the idle shape's. */
const LOGIN_ADDRESS = 3_000;

export function e2eeSendShapes(plan) {
  const common = { warmupMs: plan.warmupMs, window: plan.window, senders: 2, mode: 'max', durationMs: plan.durationMs, settle: true };
  return [
    { ...common, shape: `e2ee-send group ${GROUP} max`, kind: 'group', scheme: 'sender_key' },
    // Latency when nothing queues: the open loop of the `1:1 100/s` shape.
    { ...common, shape: `e2ee-send group ${GROUP} ${plan.rate}/s`, kind: 'group', scheme: 'sender_key', mode: 'rate', rate: plan.rate, durationMs: plan.rateMs },
    { ...common, shape: 'e2ee-send direct 2x2 max', kind: 'direct', scheme: 'pairwise' },
  ];
}

/**
 * Every spec, plain and encrypted, `rounds` times (at least twice, even in a quick run),
 * alternating which goes first; one result per run.
 */
export async function runE2eeSend(h, users, specs, planRounds) {
  const rounds = Math.max(2, planRounds);
  const sdk = await loadSdk();
  const results = [];
  for (const spec of specs) {
    const { sessions, done } = await sessionsFor(h, users, spec);
    try {
      const variants = [plain(h, spec), encrypted(h, sdk, spec)];
      for (let round = 0; round < rounds; round++) {
        for (const variant of round % 2 === 0 ? variants : [...variants].reverse()) {
          const { result } = await h.runChat({ name: variant.name, server: 'service' }, sessions, { ...spec, rooms: [sessions.map((_, i) => i)], ...variant.hooks });
          results.push({ ...result, round, envelopeBytes: variant.bytes() });
          h.log(`${spec.shape.padEnd(20)} ${variant.name.padEnd(10)} ${result.msgsPerS} msg/s, ack p50 ${result.ack.p50} ms, recv p50 ${result.recv.p50} ms, lost ${result.lost}`);
        }
      }
    } finally {
      await done();
    }
  }
  return results;
}

/**
 * The sockets' sessions: the group's first GROUP users; for the direct conversation users
 * 0 and 1, each with a second device signed in for it (and signed out after), ordered so
 * the two senders are the first devices of each user.
 */
async function sessionsFor(h, users, spec) {
  if (spec.kind === 'group') return { sessions: users.slice(0, GROUP), done: async () => {} };
  const second = [await h.loginDevice(0, 'bench e2ee second', LOGIN_ADDRESS), await h.loginDevice(1, 'bench e2ee second', LOGIN_ADDRESS + 1)];
  return {
    sessions: [users[0], users[1], ...second],
    done: async () => {
      for (const s of second) await h.http('POST', '/v1/auth/logout', { token: s.accessToken });
    },
  };
}

function createBody(spec, sessions, encrypted) {
  const owner = sessions[0];
  const others = [...new Set(sessions.slice(1).map((s) => s.user.id))].filter((id) => id !== owner.user.id);
  const body = spec.kind === 'direct' ? { kind: 'direct', peerId: others[0] } : { kind: 'group', title: spec.shape, memberIds: others };
  return encrypted ? { ...body, encrypted: true } : body;
}

/**
 * The text the envelopes carry, numbered across the whole load process and cut back to
 * its length: the same text sent to more than 3 conversations in 10 minutes is refused as
 * spam (`repeated_text`), and every round makes new conversations.
 */
let texts = 0;
const plainText = () => ({ type: 'text', text: `${++texts} ${SHORT_TEXT}`.slice(0, SHORT_TEXT.length) });

function plain(h, spec) {
  return {
    name: 'plain',
    bytes: () => JSON.stringify({ type: 'text', text: SHORT_TEXT }).length,
    hooks: {
      create: async (sessions) => (await createConversation(h, sessions, createBody(spec, sessions, false))).id,
      content: () => plainText(),
    },
  };
}

function encrypted(h, sdk, spec) {
  /** Envelopes by the sender's index in the sessions, for the room of the current run. */
  let pools = new Map();
  return {
    name: spec.scheme,
    bytes: () => JSON.stringify([...pools.values()][0]?.[0] ?? null).length,
    hooks: {
      async create(sessions) {
        const conversation = await createConversation(h, sessions, createBody(spec, sessions, true));
        if (!conversation.encrypted) throw new Error(`${spec.shape}: the conversation was not created encrypted`);
        pools = new Map();
        for (let s = 0; s < spec.senders; s++) pools.set(s, await envelopes(sdk, spec, conversation.id, sessions, s));
        return conversation.id;
      },
      content: (senderIdx, seq) => {
        const pool = pools.get(senderIdx);
        return pool[seq % pool.length];
      },
    },
  };
}

async function createConversation(h, sessions, body) {
  return (await h.http('POST', '/v1/conversations', { token: sessions[0].accessToken, body })).conversation;
}

/**
 * ENVELOPES steady-state envelopes from the device of `sessions[senderIdx]` to every
 * other device in `sessions`, made by the SDK for conversation `id`.
 */
async function envelopes(sdk, spec, id, sessions, senderIdx) {
  const byUser = new Map();
  // The sender's user first, the sender's device first: steadyConversation sends from there.
  for (const s of [sessions[senderIdx], ...sessions.filter((_, i) => i !== senderIdx)]) {
    byUser.set(s.user.id, [...(byUser.get(s.user.id) ?? []), s.deviceId]);
  }
  const conversation = await steadyConversation(sdk, { id, kind: spec.kind, members: [...byUser].map(([userId, deviceIds]) => ({ userId, deviceIds })) });
  const out = [];
  for (let i = 0; i < ENVELOPES; i++) out.push(await conversation.send());
  return out;
}
