/**
 * Logging: winston on stderr, human-readable lines by default or one JSON object per
 * line. Library code takes any {@link Logger}; it never logs on the proxy hot path.
 */
import winston from 'winston';
import { SECRET_KEYS } from './redact.js';
import { withMethods } from '../options/rules.js';
import { DEFAULT_LOG_FORMAT, DEFAULT_LOG_LEVEL, LOG_LEVELS, type LogFormat, type LogLevel } from './levels.js';

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

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /**
   * Colour the level and highlight the public address in human lines. Default:
   * {@link wantsColor} of stderr and the environment (never with `NO_COLOR`, never off a TTY).
   */
  color?: boolean;
}

/**
 * Whether to colour a stream: `FORCE_COLOR` decides when set (`0` or `false`: no; any
 * other value: yes), as in Node's own `tty`; else only a TTY, and never when `NO_COLOR`
 * is set to anything non-empty (https://no-color.org).
 */
export function wantsColor(stream: { isTTY?: boolean } = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  return stream.isTTY === true && (env.NO_COLOR ?? '') === '';
}

/** ANSI SGR codes for each level's name. */
const LEVEL_COLORS: Record<string, string> = { error: '31', warn: '33', info: '32', debug: '34' };

/** Messages whose address is highlighted: the tunnel's public address. */
const ADDRESS = /^(listening at )(\S+)/;

/** Drops any field that could carry a secret ({@link SECRET_KEYS}), whatever a caller passes. */
const redact = winston.format((info) => {
  for (const k of Object.keys(info)) if (SECRET_KEYS.has(k)) delete info[k];
  return info;
});

/** Stamps each line with `time` (ISO 8601). */
const stamp = winston.format((info) => {
  info.time = new Date().toISOString();
  return info;
});

/**
 * One human line, `time LEVEL message key=value ...`; with `color`, the level in its
 * colour and the public address of `listening at …` in bold cyan.
 */
export function humanLine(info: Record<string, unknown>, color: boolean): string {
  const { time, level, message, ...fields } = info;
  const extra = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const name = String(level);
  let label = name.toUpperCase().padEnd(5);
  let text = String(message);
  if (color) {
    const code = LEVEL_COLORS[name];
    if (code) label = `\x1b[${code}m${label}\x1b[0m`;
    text = text.replace(ADDRESS, '$1\x1b[1;36m$2\x1b[0m');
  }
  return `${String(time)} ${label} ${text}${extra ? ` ${extra}` : ''}`;
}

/** A winston logger writing to stderr in the given level and format. */
export function createLogger(options: LoggerOptions = {}): winston.Logger {
  const color = options.color ?? wantsColor();
  const format =
    (options.format ?? DEFAULT_LOG_FORMAT) === 'json'
      ? winston.format.combine(redact(), stamp(), winston.format.json())
      : winston.format.combine(
          redact(),
          stamp(),
          winston.format.printf((info) => humanLine(info, color)),
        );
  const logger = winston.createLogger({
    level: options.level ?? DEFAULT_LOG_LEVEL,
    levels: winston.config.npm.levels,
    format,
    transports: [new winston.transports.Console({ stderrLevels: [...LOG_LEVELS, 'verbose', 'silly', 'http'] })],
  });
  // winston builds and streams an entry before it drops one below the level: about 30 us
  // for each debug line of a server's new connection. Check the level first (it stays
  // changeable at run time).
  const debug = logger.debug.bind(logger);
  logger.debug = ((...args: Parameters<winston.LeveledLogMethod>) =>
    logger.isDebugEnabled() ? debug(...args) : logger) as winston.LeveledLogMethod;
  return logger;
}

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
