/**
 * @module placement
 * Where a conversation lives. A conversation created in a jurisdiction (`eu`) gets an id
 * with the jurisdiction's prefix (`eu-g_…`, `eu-dm_…`): its object comes from the
 * jurisdiction-scoped namespace (`CONVERSATIONS.jurisdiction('eu')`), so its messages
 * never leave it, and its media go to that jurisdiction's R2 bucket (`MEDIA_EU`). Every
 * caller finds it again from the id alone, through `conversationStub` and `mediaBucket`:
 * nothing else needs to know. A location hint only chooses where a new object starts
 * (a preference, not a guarantee) and needs no prefix: `idFromName` is global.
 *
 * The ConversationDO itself does not know where it is; the routing is the Worker's (and
 * the UserDO's and the media code's, through these two functions).
 *
 * workerd does not implement jurisdictions (`jurisdiction()` throws "not implemented"), so
 * under `wrangler dev` and in the tests a jurisdiction's objects come from the default
 * namespace, under the same prefixed ids; everything else (ids, buckets) is as deployed.
 */
import type { Env } from './env.js';
import { isDeployed } from './config.js';
import type { Placement } from './protocol/index.js';
import { relayName } from './conversation/relays.js';

type Jurisdiction = 'eu';

/** Per jurisdiction: the id prefix and the R2 bucket binding. */
const JURISDICTION = {
  eu: { prefix: 'eu-', bucket: 'MEDIA_EU' },
} as const satisfies Record<Jurisdiction, { prefix: string; bucket: keyof Env }>;

/** The jurisdiction a conversation id names, or null for the default (anywhere). */
export function jurisdictionOf(conversationId: string): Jurisdiction | null {
  for (const [name, { prefix }] of Object.entries(JURISDICTION)) if (conversationId.startsWith(prefix)) return name as Jurisdiction;
  return null;
}

/** The id of a new conversation placed as asked: `base` (a group or direct id) with the jurisdiction's prefix, if any. */
export function placedId(base: string, placement: Placement | undefined): string {
  return placement && 'jurisdiction' in placement ? `${JURISDICTION[placement.jurisdiction].prefix}${base}` : base;
}

/** The conversation's object, from the namespace of its jurisdiction; `placement`'s location hint applies when it is created. */
export function conversationStub(env: Pick<Env, 'CONVERSATIONS' | 'ENVIRONMENT'>, conversationId: string, placement?: Placement) {
  const jurisdiction = jurisdictionOf(conversationId);
  // Locally the default namespace stands in for the jurisdiction's (see the module doc).
  const namespace = jurisdiction && isDeployed(env) ? env.CONVERSATIONS.jurisdiction(jurisdiction) : env.CONVERSATIONS;
  return placement && 'locationHint' in placement ? namespace.getByName(conversationId, { locationHint: placement.locationHint }) : namespace.getByName(conversationId);
}

/**
 * A relay of the conversation (src/relay/RelayDO.ts), in the conversation's jurisdiction:
 * the events it holds for live readers must not leave it either.
 */
export function relayStub(env: Pick<Env, 'RELAYS' | 'ENVIRONMENT'>, conversationId: string, index: number) {
  const jurisdiction = jurisdictionOf(conversationId);
  const namespace = jurisdiction && isDeployed(env) ? env.RELAYS.jurisdiction(jurisdiction) : env.RELAYS;
  return namespace.getByName(relayName(conversationId, index));
}

/** The R2 bucket of a conversation's media: its jurisdiction's, else the default. */
export function mediaBucket(env: Pick<Env, 'MEDIA' | 'MEDIA_EU'>, conversationId: string): R2Bucket {
  const jurisdiction = jurisdictionOf(conversationId);
  return jurisdiction ? env[JURISDICTION[jurisdiction].bucket] : env.MEDIA;
}
