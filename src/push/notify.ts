/**
 * @module push/notify
 * The two entry points the UserDO calls: `notifyOffline` when an event reaches a user
 * with no online device, `clearPushState` when one of their devices comes online.
 */
import type { Env } from '../env.js';
import { clearBursts, dropBurst, openBurst } from './bursts.js';
import type { PushJob } from './jobs.js';
import { record } from '../metrics.js';

/**
 * Queues a push for `job` unless it joins an open burst of its conversation (see
 * `PUSH.collapseWindowMs`). Returns whether it queued one. Costs one D1 write and, for
 * the first message of a burst, one queue send: the push service is only ever called
 * from the queue consumer, so it never slows fan-out.
 */
export async function notifyOffline(env: Env, job: PushJob): Promise<boolean> {
  if (!(await openBurst(env.DB, job.userId, job.conversationId, job.seq, Date.now()))) {
    record(env, { kind: 'push', outcome: 'collapsed' });
    return false;
  }
  try {
    await env.PUSH_QUEUE.send(job, { contentType: 'json' });
  } catch (err) {
    record(env, { kind: 'push', outcome: 'queue_failed' });
    // Without this the burst would swallow every message of the window with nothing sent.
    await dropBurst(env.DB, job.userId, job.conversationId, job.seq);
    throw err;
  }
  record(env, { kind: 'push', outcome: 'queued' });
  return true;
}

/**
 * Ends every open burst of the user: the next message notifies afresh, and jobs still
 * waiting in the queue for the ended bursts are dropped by the consumer (the user is
 * reading on a device now).
 */
export async function clearPushState(env: Env, userId: string): Promise<void> {
  await clearBursts(env.DB, userId);
}
