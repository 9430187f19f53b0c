/**
 * @module test/reliability/sizes
 * How big each scenario runs. CI (`npm test`) runs the small sizes, all scenarios
 * together in about two minutes on two cores; `RELIABILITY_SIZE=full` (`npm run
 * test:reliability:full`) the sizes the issue asks for; `npm run soak -- --minutes N`
 * repeats chaos at full size for N minutes.
 */
export const FULL = process.env.RELIABILITY_SIZE === 'full';
/** Soak: repeat the chaos run until this many minutes have passed (0: once). */
export const SOAK_MINUTES = Number(process.env.RELIABILITY_SOAK_MINUTES ?? 0) || 0;

export const SIZES = FULL
  ? {
      chaos: { messages: 5_000, cuts: 50, gapMs: [200, 600] as [number, number] },
      crash: { messages: 1_500, kills: 3 },
      idempotency: { messages: 300, kills: 1 },
      absence: { messages: 2_000, edits: 200, deletes: 100, reactions: 300, membershipChanges: 20 },
      overload: { attempts: 600, otherMessages: 100 },
    }
  : {
      chaos: { messages: 600, cuts: 12, gapMs: [150, 350] as [number, number] },
      crash: { messages: 300, kills: 3 },
      idempotency: { messages: 60, kills: 1 },
      absence: { messages: 300, edits: 30, deletes: 20, reactions: 40, membershipChanges: 6 },
      overload: { attempts: 180, otherMessages: 30 },
    };

/** Bounds on waiting for a run to settle after its faults end. */
export const SETTLE_TIMEOUT_MS = Number(process.env.RELIABILITY_SETTLE_MS) || (FULL ? 300_000 : 90_000);
