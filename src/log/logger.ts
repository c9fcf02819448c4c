/**
 * Logging: winston on stderr (`winston-logger.ts`, loaded when a logger is made; the
 * CLI writes the same lines without it, `line-logger.ts`),
 * human-readable lines by default or one JSON object per line. Library code takes any
 * {@link Logger}; it never logs on the proxy hot path.
 */
import { createRequire } from 'node:module';
import { type Winston, type WinstonLogger, createWinstonLogger } from './winston-logger.js';
import type { LoggerOptions } from './line-format.js';

/** Options, colours and the human line format of a logger (defined in `line-format.ts`). */
export { type LoggerOptions, humanLine, logfmtValue, wantsColor } from './line-format.js';
import { withMethods } from '../options/rules.js';

/** The levels and formats, defined in `log-levels.ts`. */
export { LOG_FORMATS, LOG_LEVELS } from './levels.js';

/** The logging surface the tunnel needs; a winston logger satisfies it. */
export interface Logger {
  error(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
  debug(message: string, meta?: Record<string, unknown>): unknown;
}

/** The levels a {@link Logger} has, in the order of their severity. */
const LOGGER_METHODS = ['error', 'warn', 'info', 'debug'] as const;

/** A logger called as `(fields, message)`, as pino and bunyan loggers are. */
export interface ObjectFirstLogger {
  error(fields: Record<string, unknown>, message: string): unknown;
  warn(fields: Record<string, unknown>, message: string): unknown;
  info(fields: Record<string, unknown>, message: string): unknown;
  debug(fields: Record<string, unknown>, message: string): unknown;
}

/**
 * A {@link Logger} that writes to `log`, a pino or bunyan logger (or any logger called
 * as `(fields, message)`): `logger.info('new client', { port })` becomes
 * `log.info({ port }, 'new client')`, and a line without fields gets `{}`. Each call
 * goes to the method `log` has at that moment, so a level changed later still applies.
 * Throws a `TypeError` if `log` lacks one of the four methods.
 */
export function objectFirstLogger(log: ObjectFirstLogger): Logger {
  withMethods('a pino or bunyan logger (error, warn, info and debug methods)', LOGGER_METHODS)('log', log);
  const method =
    (level: (typeof LOGGER_METHODS)[number]) =>
    (message: string, fields?: Record<string, unknown>): unknown =>
      log[level](fields ?? {}, message);
  return { error: method('error'), warn: method('warn'), info: method('info'), debug: method('debug') };
}

/**
 * A winston logger writing to stderr in the given level and format. winston is loaded
 * at the first call, not when the package is imported: an embedder who passes a logger
 * of their own never loads it.
 */
export function createLogger(options: LoggerOptions = {}): WinstonLogger {
  winstonModule ??= createRequire(import.meta.url)('winston') as Winston;
  return createWinstonLogger(winstonModule, options);
}

/** winston, once {@link createLogger} has loaded it. */
let winstonModule: Winston | undefined;

/** A logger that discards everything (the default for library use). */
export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
};

/**
 * `logger` with `fields` added to every line (before the line's own fields): a tunnel's
 * lines carry its name, `withFields(logger, { tunnel: 'web' })`.
 */
export function withFields(logger: Logger, fields: Record<string, unknown>): Logger {
  const wrap =
    (method: 'error' | 'warn' | 'info' | 'debug') =>
    (message: string, meta?: Record<string, unknown>): unknown =>
      logger[method](message, { ...fields, ...meta });
  return { error: wrap('error'), warn: wrap('warn'), info: wrap('info'), debug: wrap('debug') };
}
