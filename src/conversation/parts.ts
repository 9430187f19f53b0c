/**
 * @module conversation/parts
 * The conversation object's parts, each owning one responsibility and sharing the one
 * store: built once per instance, in dependency order. The Durable Object class
 * (./ConversationDO.ts) is a shell of RPC methods and runtime hooks over these.
 */
import type { Env } from '../env.js';
import type { ConversationEvent } from '../protocol/index.js';
import { Delivery } from './delivery.js';
import { fanoutTuning } from './fanout.js';
import { GroupCommit } from './group-commit.js';
import { Feed } from './history.js';
import { requireMeta } from './meta.js';
import * as lifecycle from './lifecycle.js';
import { Membership } from './membership.js';
import { Relays, relayTuning } from './relays.js';
import { relayStub } from '../placement.js';
import * as receipts from './receipts.js';
import { SendPipeline } from './send.js';
import { DeviceStandings } from './standing.js';
import { ConversationStore } from './store.js';
import { Typing } from './typing.js';
import { Wakeups } from './wake.js';
import { ChatWindows } from './windows.js';
import { MemberWrites } from './writes.js';

export interface ConversationParts {
  store: ConversationStore;
  standings: DeviceStandings;
  windows: ChatWindows;
  /** The relays holding a large conversation's live readers. */
  relays: Relays;
  feed: Feed;
  /** Who is typing (memory only), from windows and HTTP alike. */
  typing: Typing;
  sender: SendPipeline;
  writes: MemberWrites;
  membership: Membership;
  delivery: Delivery;
  wakeups: Wakeups;
  /** Under load, sends arriving together (frames and HTTP alike) are handled in one turn and share one commit. */
  groupCommit: GroupCommit;
}

export function assemble(ctx: DurableObjectState, env: Env): ConversationParts {
  const store = new ConversationStore(ctx.storage);
  const standings = new DeviceStandings((reader) => env.USERS.getByName(reader.userId).standing(reader.deviceId));
  const windows = new ChatWindows(ctx, env, store, standings);
  // Who is typing changed: the windows are told, and held feed reads look again.
  const typing: Typing = new Typing(store, standings, (subject, state, except) => {
    windows.showTyping(subject, state, except);
    feed.wake();
  });
  const feed = new Feed(store, standings, typing);
  const relays: Relays = new Relays(store, ctx, relayTuning(env), (index) => relayStub(env, requireMeta(store).id, index), () => wakeups.schedule());
  // Everything new in the log is shown to the open windows and the relays, and wakes the held feed reads.
  const announce = (events: ConversationEvent[]) => {
    windows.broadcast(events);
    relays.broadcast(events);
    feed.wake();
  };
  const wakeups: Wakeups = new Wakeups(ctx.storage, (): (number | null)[] => [
    delivery.dueAt(),
    receipts.flushDue(store),
    lifecycle.nextPurge(store),
    windows.presenceRenewalAt(),
    relays.dueAt(),
  ]);
  const delivery: Delivery = new Delivery(store, env, ctx, fanoutTuning(env), wakeups, (userId) => windows.isOpenFor(userId));
  return {
    store,
    standings,
    windows,
    relays,
    feed,
    typing,
    sender: new SendPipeline(store, env, standings, announce, () => delivery.persistWatermark()),
    writes: new MemberWrites(store, env, ctx, standings, windows, announce),
    membership: new Membership(store, env, standings, announce),
    delivery,
    wakeups,
    groupCommit: new GroupCommit(),
  };
}
