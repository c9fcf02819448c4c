/**
 * A bound on repeated warnings: a flood of bad connections must not grow a log without
 * limit. A {@link rateLimited} logger writes the first `burst` warn or error lines with
 * the same message in a window in full, counts the rest, and when the window closes
 * writes one summary line at the same level, e.g. `closing connection … 1,234 more like
 * this in the last 10 s`, with the fields `original`, `suppressed` and `intervalMs`.
 * Lines are keyed by their message text, not their fields. Info and debug lines pass
 * through unchanged. A suppressed line's call returns {@link SUPPRESSED}, so a caller
 * can keep its follow-up lines quiet too; limiters nest (one per tunnel over one per
 * process, through `withFields`) and the mark comes back through both.
 */
import type { Logger } from './logger.js';

/** What a rate-limited `warn` or `error` returns for a line it suppressed. */
export const SUPPRESSED: unique symbol = Symbol('suppressed');

/** Default number of lines with the same message written in full per window. */
export const LOG_BURST = 10;
/** Default length of a rate-limit window, ms. */
export const LOG_WINDOW_MS = 10_000;
/** Default bound on messages tracked at once; past it the oldest window is closed early. */
export const LOG_MAX_KEYS = 1000;

/** Options of {@link rateLimited}. */
export interface RateLimitOptions {
  /** Lines with the same message written in full per window (default {@link LOG_BURST}). */
  burst?: number;
  /** Length of a window, ms (default {@link LOG_WINDOW_MS}). */
  windowMs?: number;
  /** Messages tracked at once (default {@link LOG_MAX_KEYS}). */
  maxKeys?: number;
  /**
   * Runs `fn` after `ms` and returns a function that cancels it. The default is an
   * unref'd `setTimeout`, so a pending summary never keeps the process alive; tests
   * inject a fake clock.
   */
  schedule?: (fn: () => void, ms: number) => () => void;
}

/** A {@link Logger} whose repeated warn and error lines are rate-limited. */
export interface RateLimitedLogger extends Logger {
  /** Writes the summaries of all open windows now and forgets them (e.g. before exit). */
  flush(): void;
}

type Level = 'warn' | 'error';

interface Window {
  level: Level;
  logged: number;
  suppressed: number;
  cancel: () => void;
}

function unrefTimeout(fn: () => void, ms: number): () => void {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

/** `10000` → `10 s`, `250` → `0.25 s`. */
function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

const limitedLoggers = new WeakSet<Logger>();

/**
 * Wraps `logger` so repeated warn and error lines are rate-limited (see the module
 * comment). A logger that is already rate-limited is returned as is, options ignored.
 */
export function rateLimited(logger: Logger, options: RateLimitOptions = {}): RateLimitedLogger {
  if (limitedLoggers.has(logger)) return logger as RateLimitedLogger;
  const burst = options.burst ?? LOG_BURST;
  const windowMs = options.windowMs ?? LOG_WINDOW_MS;
  const maxKeys = options.maxKeys ?? LOG_MAX_KEYS;
  const schedule = options.schedule ?? unrefTimeout;
  /** Open windows by message, oldest first. */
  const windows = new Map<string, Window>();

  const close = (message: string, w: Window): void => {
    windows.delete(message);
    w.cancel();
    if (w.suppressed === 0) return;
    logger[w.level](`${message} … ${w.suppressed.toLocaleString('en-US')} more like this in the last ${seconds(windowMs)}`, {
      original: message,
      suppressed: w.suppressed,
      intervalMs: windowMs,
    });
  };

  const open = (message: string, level: Level): Window => {
    if (windows.size >= maxKeys) {
      const [oldest, w] = windows.entries().next().value!;
      close(oldest, w);
    }
    const w: Window = { level, logged: 0, suppressed: 0, cancel: () => {} };
    w.cancel = schedule(() => close(message, w), windowMs);
    windows.set(message, w);
    return w;
  };

  const limit =
    (level: Level) =>
    (...args: Parameters<Logger['warn']>): unknown => {
      const w = windows.get(args[0]) ?? open(args[0], level);
      if (w.logged >= burst) {
        w.suppressed++;
        return SUPPRESSED;
      }
      w.logged++;
      return logger[level](...args);
    };

  const limited: RateLimitedLogger = {
    error: limit('error'),
    warn: limit('warn'),
    info: (...args) => logger.info(...args),
    debug: (...args) => logger.debug(...args),
    flush() {
      for (const [message, w] of [...windows]) close(message, w);
    },
  };
  limitedLoggers.add(limited);
  return limited;
}
