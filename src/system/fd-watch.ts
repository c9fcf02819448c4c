/**
 * File descriptors against their limit. When a process runs out of descriptors, libuv
 * accepts each new connection and closes it at once, and a connection cannot be
 * opened: nothing is reported, neither by the listener nor by an `error` event. So
 * `bore server`, `bore local` and `bore up` count their open descriptors every few
 * seconds (`/proc/self/fd`; the limit from `/proc/self/limits`, read again once a minute
 * or when the count nears it) and say so: a warning at 80% of the limit, an error at
 * the limit, each at most once a minute, and an info line once back below 80%. On a platform without `/proc` nothing is watched.
 * The client's warm pool is bounded by the same limit (`pool-bound.ts`).
 */
import fs from 'node:fs';
import { nodeUtil } from '../protocol/on-demand.js';
import type { Logger } from '../log/logger.js';

/** Share of the limit at which open descriptors are warned about. */
export const FD_WARN_RATIO = 0.8;

/** Milliseconds between two lines of the same level. */
export const FD_REPEAT_MS = 60_000;

/** Milliseconds between two checks (`BORE_FD_CHECK_MS` overrides it, for tests). */
export const FD_CHECK_MS = 5000;

/** Milliseconds a limit once read stands, while the count stays below the warning level. */
export const FD_LIMIT_REFRESH_MS = 60_000;

/** What a check found. */
export interface FdReading {
  /** Descriptors open; undefined if counting them failed for want of one (EMFILE). */
  open: number | undefined;
  /** The soft limit on open descriptors (`ulimit -n`); undefined if unknown. */
  limit: number | undefined;
}

/** The soft "Max open files" limit in the text of `/proc/<pid>/limits`, if it is a number. */
export function parseFdLimit(text: string): number | undefined {
  const m = /^Max open files\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * `fs.readdir` and `fs.readFile` as promises. Not `fs/promises`: loading it loads readline
 * and the REPL history with it, some 3 ms of a start whose first reading is before listening.
 */
const readdir = nodeUtil().promisify(fs.readdir);
const readFile = nodeUtil().promisify(fs.readFile);

/**
 * This process's soft limit on open descriptors, read now; undefined if unlimited, and
 * `unreadable` (default undefined) without `/proc`.
 */
export function readFdLimit(unreadable?: number): number | undefined {
  try {
    return parseFdLimit(fs.readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return unreadable;
  }
}

/**
 * Below this many open descriptors at the last count, a check reads `/proc` at once (some
 * 0.2 ms for a few dozen) instead of through libuv's thread pool, which the first async
 * read starts: 0.6 ms of the main thread at start and four threads that a client given
 * addresses never needs otherwise. A busy server's longer directory is read off the loop.
 */
export const FD_SYNC_BELOW = 1000;

/**
 * Counts this process's open descriptors and, unless `knownLimit` is given and the count
 * is below its warning level, reads the limit: Node reads a `/proc` file in 64 KB
 * buffers, and that read every 5 s was all an idle server allocated (25 KB/s, a
 * collection every minute and a half). Undefined on a platform without `/proc`;
 * `knownLimit` also stands in for a limit that could not be read. Read at once when the
 * last count (`lastOpen`; none at the first) was below {@link FD_SYNC_BELOW}, else async.
 */
export async function readFds(knownLimit?: number, lastOpen = 0): Promise<FdReading | undefined> {
  const atOnce = lastOpen < FD_SYNC_BELOW;
  let entries: string[];
  try {
    entries = atOnce ? fs.readdirSync('/proc/self/fd') : await readdir('/proc/self/fd');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EMFILE' || code === 'ENFILE') return { open: undefined, limit: knownLimit };
    return undefined;
  }
  // The directory's own descriptor was open while it was read: not the process's.
  const open = entries.length - 1;
  if (knownLimit !== undefined && open < knownLimit * FD_WARN_RATIO) return { open, limit: knownLimit };
  if (atOnce) return { open, limit: readFdLimit(knownLimit) };
  return { open, limit: await readFile('/proc/self/limits', 'utf8').then(parseFdLimit, () => knownLimit) };
}

/** How a reading stands: `error` at the limit (or out of descriptors), `warn` from {@link FD_WARN_RATIO}. */
export function fdLevel(reading: FdReading, warnRatio = FD_WARN_RATIO): 'ok' | 'warn' | 'error' {
  const { open, limit } = reading;
  if (open === undefined) return 'error';
  if (limit === undefined) return 'ok';
  // At most one left, the one the count itself used: the next connection has none.
  if (open >= limit - 1) return 'error';
  return open >= limit * warnRatio ? 'warn' : 'ok';
}

const RAISE = 'raise LimitNOFILE (systemd) or ulimit -n';

/**
 * Decides what to log for each reading: the warning and the error each at most once
 * per `repeatMs`, and an info line when the descriptors are back below the warning
 * level after either was said. Counts the readings at the limit.
 */
export class FdAlarm {
  readonly #logger: Logger;
  readonly #warnRatio: number;
  readonly #repeatMs: number;
  readonly #said = { warn: -Infinity, error: -Infinity };
  #alarmed = false;
  #limitReached = 0;

  constructor(logger: Logger, options: { warnRatio?: number; repeatMs?: number } = {}) {
    this.#logger = logger;
    this.#warnRatio = options.warnRatio ?? FD_WARN_RATIO;
    this.#repeatMs = options.repeatMs ?? FD_REPEAT_MS;
  }

  /** Readings that found the process at its limit or out of descriptors. */
  get limitReached(): number {
    return this.#limitReached;
  }

  /** Takes the reading made at `now` (ms) and logs what it calls for. */
  update(reading: FdReading, now: number): void {
    const level = fdLevel(reading, this.#warnRatio);
    const { open, limit } = reading;
    const fields = { open, limit };
    if (level === 'ok') {
      if (this.#alarmed && open !== undefined && limit !== undefined) {
        this.#alarmed = false;
        this.#logger.info(`open file descriptors back to ${percent(open, limit)}% of the limit (${open} of ${limit})`, fields);
      }
      return;
    }
    if (level === 'error') this.#limitReached++;
    if (now - this.#said[level] < this.#repeatMs) return;
    this.#said[level] = now;
    this.#alarmed = true;
    if (level === 'warn') {
      this.#logger.warn(`open file descriptors at ${percent(open!, limit!)}% of the limit (${open} of ${limit}): ${RAISE}`, fields);
    } else {
      const where =
        open === undefined
          ? `out of file descriptors (limit ${limit ?? 'unknown'})`
          : `open file descriptors at the limit (${open} of ${limit})`;
      this.#logger.error(`${where}: new connections fail, accepted and closed at once or not opened; ${RAISE}`, fields);
    }
  }
}

function percent(open: number, limit: number): number {
  return Math.floor((open / limit) * 100);
}

/** Options of {@link watchFds}. */
export interface FdWatchOptions {
  /** Where the lines go. */
  logger: Logger;
  /** Milliseconds between checks (default `BORE_FD_CHECK_MS`, else {@link FD_CHECK_MS}). */
  intervalMs?: number;
  /**
   * The reader (default {@link readFds}), given the limit it may keep (undefined at first
   * and once every {@link FD_LIMIT_REFRESH_MS}) and the last count; undefined means no
   * `/proc`, and the watch stops.
   */
  read?: (knownLimit?: number, lastOpen?: number) => Promise<FdReading | undefined>;
  /** The clock (default `Date.now`). */
  now?: () => number;
}

/** A running watch of the descriptors. */
export interface FdWatch {
  /** Readings that found the process at its limit or out of descriptors (a metric). */
  readonly limitReached: number;
  /** Checks now (the timer does it every interval). */
  check(): Promise<void>;
  /** Stops the checks. */
  stop(): void;
}

/** Checks the descriptors at once and then every interval, on a timer that keeps no process alive. */
export function watchFds(options: FdWatchOptions): FdWatch {
  const alarm = new FdAlarm(options.logger);
  const read = options.read ?? readFds;
  const now = options.now ?? Date.now;
  const intervalMs = options.intervalMs ?? (Number(process.env.BORE_FD_CHECK_MS) || FD_CHECK_MS);
  let lastLimit: number | undefined;
  let lastOpen: number | undefined;
  let limitAskedAt = -Infinity;
  let running: Promise<void> | undefined;
  const knownLimit = () => {
    const at = now();
    if (at - limitAskedAt < FD_LIMIT_REFRESH_MS) return lastLimit;
    limitAskedAt = at;
    return undefined;
  };
  const check = () =>
    (running ??= read(knownLimit(), lastOpen)
      .then((reading) => {
        if (reading === undefined) return stop();
        lastLimit = reading.limit ?? lastLimit;
        lastOpen = reading.open ?? lastOpen;
        alarm.update({ open: reading.open, limit: lastLimit }, now());
      })
      .finally(() => (running = undefined)));
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  const stop = () => clearInterval(timer);
  void check();
  return {
    get limitReached() {
      return alarm.limitReached;
    },
    check,
    stop,
  };
}
