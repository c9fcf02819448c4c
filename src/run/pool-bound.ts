/**
 * The warm pool bounded by the open-file limit. Each pooled connection holds a
 * descriptor, so `--pool 1024` under `ulimit -n 1024` left the client none for its
 * visitors (45 of 200 lost, the inspector failing with EMFILE). The pools of a process,
 * summed over its tunnels, get at most a quarter of the soft limit less a reserve;
 * past it each is lowered in proportion, with one warning line. Applied by the
 * runners (`startTunnel`, `startTunnels`), so the library gets it as the CLI does.
 */
import { readFdLimit } from '../system/fd-watch.js';
import type { Logger } from '../log/logger.js';

/** Descriptors kept out of the pools' budget before the quarter is taken. */
export const POOL_FD_RESERVE = 16;

/** The most pooled connections a process whose soft limit is `limit` keeps over all its tunnels. */
export function poolBudget(limit: number): number {
  return Math.max(0, Math.floor(limit / 4) - POOL_FD_RESERVE);
}

/**
 * The pools (by tunnel name) lowered in proportion so that their sum stays within
 * {@link poolBudget}; `pools` itself when it does already, or when the limit is unknown.
 */
export function boundPools(pools: Readonly<Record<string, number>>, limit: number | undefined): Readonly<Record<string, number>> {
  if (limit === undefined) return pools;
  const budget = poolBudget(limit);
  const total = Object.values(pools).reduce((a, b) => a + b, 0);
  if (total <= budget) return pools;
  return Object.fromEntries(Object.entries(pools).map(([name, pool]) => [name, Math.floor((pool * budget) / total)]));
}

/**
 * {@link boundPools} against this process's limit (read now; `limit` for tests), with
 * one warning on `logger` when a pool was lowered, saying from what, to what and why.
 */
export function limitPools(
  pools: Readonly<Record<string, number>>,
  logger: Logger,
  limit = readFdLimit(),
): Readonly<Record<string, number>> {
  const bounded = boundPools(pools, limit);
  if (bounded === pools) return pools;
  const why = `the open-file limit is ${limit} (ulimit -n); raise it for a larger pool`;
  const names = Object.keys(pools);
  const total = Object.values(bounded).reduce((a, b) => a + b, 0);
  if (names.length === 1) {
    logger.warn(`--pool ${pools[names[0]!]} lowered to ${total}: ${why}`, { pool: total, limit });
  } else {
    const each = names.filter((n) => pools[n] !== 0).map((n) => `${n} ${pools[n]} to ${bounded[n]}`);
    logger.warn(`--pool lowered to ${total} in all over ${names.length} tunnels (${each.join(', ')}): ${why}`, { pool: total, limit });
  }
  return bounded;
}
