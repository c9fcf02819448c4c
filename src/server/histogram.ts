/**
 * A fixed-bucket histogram the server keeps without prom-client (which it loads only
 * for `--metrics`): one observation per connection, never per chunk, read at scrape
 * time by `metrics.ts` in Prometheus's cumulative form.
 */

/** Upper bounds (seconds) of the duration of a proxied public connection: from a request's fraction of a second to a four-hour session. */
export const DURATION_BUCKETS: readonly number[] = [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 14_400];

/** Upper bounds (seconds) of a public connection's setup: from its accept until its data connection claimed it. */
export const SETUP_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A histogram as read: cumulative counts per upper bound (the last one is `+Inf`, all observations), and their sum. */
export interface HistogramSnapshot {
  /** The upper bounds, ascending (`+Inf` not included). */
  readonly bounds: readonly number[];
  /** Observations at or below each bound, then the count of all of them (the `+Inf` bucket). */
  readonly cumulative: readonly number[];
  /** Sum of the observed values. */
  readonly sum: number;
}

/** Counts of observations per bucket, and their sum. */
export class Histogram {
  readonly #bounds: readonly number[];
  /** Per bucket (not cumulative); the last one counts the values above every bound. */
  readonly #counts: number[];
  #sum = 0;

  /** A histogram with these upper bounds (ascending). */
  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Counts `value` in its bucket. */
  observe(value: number): void {
    let i = 0;
    while (i < this.#bounds.length && value > this.#bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += value;
  }

  /** The cumulative counts and the sum, as Prometheus exposes them. */
  snapshot(): HistogramSnapshot {
    let acc = 0;
    const cumulative = this.#counts.map((n) => (acc += n));
    return { bounds: this.#bounds, cumulative, sum: this.#sum };
  }
}
