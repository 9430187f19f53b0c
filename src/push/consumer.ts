/**
 * @module push/consumer
 * The queue consumer: turns each job into one Web Push per subscribed device. A job is
 * retried with exponential backoff while any push service is down or throttling; a
 * subscription the service calls gone (404/410) is deleted. A retry sends to every device
 * again, which is harmless: the same Topic replaces a push still pending at the service,
 * and the same notification tag replaces one already shown.
 */
import { vapidKeys, type VapidKeys } from '../config.js';
import type { Env } from '../env.js';
import { isBurstOpen } from './bursts.js';
import { PushJob, payloadFor } from './jobs.js';
import { PUSH } from './settings.js';
import { activeSubscriptions, removeExpired, type StoredSubscription } from './subscriptions.js';
import { buildPushRequest, topicFor } from './webpush.js';
import { log, withRequestId } from '../log.js';
import { record } from '../metrics.js';

export type SendOutcome = 'sent' | 'gone' | 'retry' | 'rejected';

export interface JobOutcome {
  outcomes: SendOutcome[];
  /** Set when the job should be tried again, after this many seconds. */
  retryAfterSeconds?: number;
}

export async function handlePushBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const vapid = vapidKeys(env);
  await Promise.all(
    batch.messages.map(async (message) => {
      const job = PushJob.safeParse(message.body);
      if (!job.success) {
        log.error('push_job_malformed', { messageId: message.id });
        message.ack();
        return;
      }
      // The send's request id, when the job carries one, goes on every line logged for it.
      const result = await withRequestId(job.data.rid, async () => {
        const outcome = await deliver(env, job.data, vapid);
        const tally = (o: SendOutcome) => outcome.outcomes.filter((x) => x === o).length;
        log.info('push_job_done', {
          userId: job.data.userId,
          conversationId: job.data.conversationId,
          seq: job.data.seq,
          attempt: message.attempts,
          sent: tally('sent'),
          gone: tally('gone'),
          retry: tally('retry'),
          rejected: tally('rejected'),
        });
        return outcome;
      });
      if (result.retryAfterSeconds === undefined) message.ack();
      else message.retry({ delaySeconds: Math.max(retryDelaySeconds(message.attempts), result.retryAfterSeconds) });
    }),
  );
}

/** Sends one job to every active subscription of its user. */
export async function deliver(env: Env, job: PushJob, vapid: VapidKeys): Promise<JobOutcome> {
  if (!(await isBurstOpen(env.DB, job.userId, job.conversationId, job.seq))) {
    // A device came online meanwhile: the user is reading, nothing to send.
    record(env, { kind: 'push', outcome: 'stale' });
    return { outcomes: [] };
  }
  const subscriptions = await activeSubscriptions(env.DB, job.userId);
  const payload = payloadFor(job);
  const options = { topic: await topicFor(job.userId, job.conversationId), urgency: 'high' } as const;
  let retryAfterSeconds: number | undefined;
  const outcomes = await Promise.all(
    subscriptions.map(async (subscription) => {
      let request: Request;
      try {
        request = await buildPushRequest(subscription, payload, vapid, options);
      } catch (err) {
        // Keys are validated on registration; one bad row must not hold back the other devices.
        logFailure(subscription, `encrypt: ${(err as Error).name}`);
        record(env, { kind: 'push', outcome: 'rejected' });
        return 'rejected';
      }
      const result = await sendOne(subscription, request);
      record(env, { kind: 'push', outcome: result.outcome });
      if (result.outcome === 'gone') await removeExpired(env.DB, subscription);
      if (result.outcome === 'retry') retryAfterSeconds = Math.max(retryAfterSeconds ?? 0, result.retryAfterSeconds ?? 0);
      return result.outcome;
    }),
  );
  return retryAfterSeconds === undefined ? { outcomes } : { outcomes, retryAfterSeconds };
}

async function sendOne(subscription: StoredSubscription, request: Request): Promise<{ outcome: SendOutcome; retryAfterSeconds?: number }> {
  let response: Response;
  try {
    response = await fetch(request, { signal: AbortSignal.timeout(PUSH.requestTimeoutMs) });
  } catch (err) {
    logFailure(subscription, `network: ${(err as Error).name}`);
    return { outcome: 'retry' };
  }
  // The body is only a diagnostic; reading it frees the connection.
  await response.body?.cancel();
  const outcome = classify(response.status);
  if (outcome === 'retry' || outcome === 'rejected') logFailure(subscription, `status ${response.status}`);
  const retryAfter = Number(response.headers.get('retry-after'));
  return outcome === 'retry' && Number.isFinite(retryAfter) && retryAfter > 0
    ? { outcome, retryAfterSeconds: Math.min(retryAfter, PUSH.retryMaxDelaySeconds) }
    : { outcome };
}

/**
 * RFC 8030 §6.2 / §7.3: 404 and 410 mean the subscription is gone for good; 429 and 5xx
 * are worth retrying; any other 4xx is our request's fault and would fail again.
 */
export function classify(status: number): SendOutcome {
  if (status >= 200 && status < 300) return 'sent';
  if (status === 404 || status === 410) return 'gone';
  if (status === 429 || status >= 500) return 'retry';
  return 'rejected';
}

/** Exponential backoff for the queue's retry: `attempts` counts deliveries so far, from 1. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(PUSH.retryMaxDelaySeconds, PUSH.retryBaseDelaySeconds * 2 ** Math.max(0, attempts - 1));
}

/** The endpoint is a bearer capability for the device, so only its host is logged. */
function logFailure(subscription: StoredSubscription, reason: string): void {
  log.warn('push_failed', { deviceId: subscription.deviceId, host: new URL(subscription.endpoint).host, reason });
}
