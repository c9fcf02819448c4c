/**
 * The reconnect schedule: 1 s, 2 s, 4 s, ... capped, each with ±25% random jitter so a
 * fleet of clients does not reconnect in lockstep after a server restart.
 */

/** First delay of the schedule. */
export const INITIAL_DELAY_MS = 1000;
/** Default cap on a delay (`--max-reconnect-delay 64`). */
export const DEFAULT_MAX_DELAY_MS = 64_000;
/** Jitter as a fraction of the delay: each delay is within ±25% of its base. */
export const JITTER = 0.25;

/**
 * The delay before retry number `failures` (1 for the first retry). The base doubles
 * from 1 s and is capped at `maxMs`; jitter of ±25% is applied to the capped base and
 * the result never exceeds `maxMs`. `random` returns a number in [0, 1).
 */
export function backoffDelay(failures: number, maxMs = DEFAULT_MAX_DELAY_MS, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(failures, 1) - 1, 30);
  const base = Math.min(INITIAL_DELAY_MS * 2 ** exponent, maxMs);
  const jittered = base * (1 - JITTER + 2 * JITTER * random());
  return Math.round(Math.min(jittered, maxMs));
}
