/**
 * @module ratelimit/window-counter
 * Exact sliding windows kept in memory, for limits whose state is not worth a write:
 * an object's eviction forgets them, which lets at most one more window through.
 */
import { decide, prune, type Decision, type WindowRule } from './sliding-window.js';

export class WindowCounter {
  private readonly hits = new Map<string, number[]>();

  /** Records a hit for `key` if `rule` allows it. */
  take(key: string, rule: WindowRule, now: number): Decision {
    const kept = prune(this.hits.get(key) ?? [], now, rule.windowMs);
    const decision = decide(kept, now, rule);
    if (decision.allowed) kept.push(now);
    if (kept.length > 0) this.hits.set(key, kept);
    else this.hits.delete(key);
    return decision;
  }
}
