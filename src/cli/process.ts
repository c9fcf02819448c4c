/**
 * The process around a command: its exit codes, an exit that waits for the logger, the
 * stop signals, the log settings and `main`'s own error lines.
 */
import { DEFAULT_LOG_FORMAT, DEFAULT_LOG_LEVEL, LOG_FORMATS, LOG_LEVELS, isLogFormat, isLogLevel } from '../log/levels.js';
import { EXIT } from '../client/defaults.js';
import type { Logger } from '../log/logger.js';
import { createLineLogger } from '../log/line-logger.js';
import { isoTime } from '../log/line-format.js';
import { catchHangups } from './hangup.js';
import { UsageError, fromEnv } from './args.js';

/** Every exit status of `bore`: the tunnels' (`EXIT`: 0 stopped, 2 usage, 3 fatal, 4 gave up) and 1 for a crash or a listener that failed. */
export const EXIT_CODES = { ...EXIT, failed: 1 } as const;

/** Sets the exit status and exits once the logger has flushed (on the next turn): code after it still runs. */
export function exit(code: number): void {
  process.exitCode = code;
  setImmediate(() => process.exit(code));
}

/**
 * Keeps the process running when the reader of its output goes away (`bore server 2>&1
 * | head`, a `tee` or log shipper that is restarted): the next write to the pipe fails
 * with EPIPE, which Node raises as an uncaught error, so every tunnel stopped because a
 * log line could not be read. The lines are dropped from then on and the tunnels run on,
 * as with output sent nowhere. Other errors of the streams are raised as before.
 */
export function outliveOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    });
  }
}

/** A logger as the CLI's own lines need it. */
interface WarnLogger {
  warn(message: string, meta?: Record<string, unknown>): unknown;
}

/** The stop signals' routing: {@link onStopSignal}'s result. */
export interface StopSignals {
  /** Replaces what a first SIGINT/SIGTERM does. */
  set(fn: (signal: string) => void): void;
  /** Logs the "again" line through `logger` from now on. */
  setLogger(logger: WarnLogger): void;
}

/**
 * Routes SIGINT/SIGTERM to `stop` (replaceable as start-up proceeds), installed first
 * thing so a signal that arrives during start-up is never lost; SIGHUP is caught from
 * here on too (`hangup.ts`; `bin.ts` caught it before the CLI loaded).
 */
export function onStopSignal(stop: (signal: string) => void): StopSignals {
  catchHangups();
  let current = stop;
  let log = (message: string) => void process.stderr.write(`${message}\n`);
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) {
      // A second signal: the user does not want to wait for the drain.
      log(`received ${signal} again, exiting without waiting for open connections`);
      exit(EXIT_CODES.stopped);
      return;
    }
    stopping = true;
    current(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    set: (fn) => (current = fn),
    setLogger: (logger) => (log = (message) => void logger.warn(message, { signal: 'again' })),
  };
}

/**
 * The log format once a command has read it (first thing its handler does): from then
 * on, the errors `main` prints itself (usage errors found in the values, crashes) follow
 * it too. Before that (yargs's own parse errors) they are plain text.
 */
let chosenFormat: string = DEFAULT_LOG_FORMAT;

/** The log format `main`'s own lines follow. */
export function chosenLogFormat(): string {
  return chosenFormat;
}

/** The log level and format a command runs with. */
export interface LogSettings {
  level: (typeof LOG_LEVELS)[number];
  format: (typeof LOG_FORMATS)[number];
}

/** Reads and checks the log format and level (a command handler's first step). */
export function logSettings(argv: Readonly<Record<string, unknown>>): LogSettings {
  const level = fromEnv(argv.logLevel, 'BORE_LOG_LEVEL') ?? DEFAULT_LOG_LEVEL;
  const format = fromEnv(argv.logFormat, 'BORE_LOG_FORMAT') ?? DEFAULT_LOG_FORMAT;
  if (!isLogFormat(format)) throw new UsageError(`invalid BORE_LOG_FORMAT '${format}' (one of ${LOG_FORMATS.join(', ')})`);
  chosenFormat = format;
  if (!isLogLevel(level)) throw new UsageError(`invalid BORE_LOG_LEVEL '${level}' (one of ${LOG_LEVELS.join(', ')})`);
  return { level, format };
}

/** The logger of `settings`: the winston logger's lines, without winston (`log/line-logger.ts`). */
export function makeLogger(settings: LogSettings): CliLogger {
  return createLineLogger(settings);
}

/** The logger a command runs with. */
export type CliLogger = Logger;

/** Writes a line of `main`'s own to stderr: plain, or a JSON object once `--log-format json` is known. */
export function printError(message: string, fields: Record<string, unknown> = {}): void {
  if (chosenFormat === 'json') {
    process.stderr.write(`${JSON.stringify({ level: 'error', message, ...fields, time: isoTime() })}\n`);
  } else {
    process.stderr.write(`error: ${message}\n`);
  }
}
