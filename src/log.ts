/**
 * Logging: winston on stderr, human-readable lines by default or one JSON object per
 * line. Library code takes any {@link Logger}; it never logs on the proxy hot path.
 */
import winston from 'winston';
import { SECRET_KEYS } from './redact.js';
import { DEFAULT_LOG_FORMAT, DEFAULT_LOG_LEVEL, LOG_LEVELS, type LogFormat, type LogLevel } from './log-levels.js';

/** The levels and formats, defined in `log-levels.ts`. */
export { LOG_FORMATS, LOG_LEVELS } from './log-levels.js';

/** The logging surface the tunnel needs; a winston logger satisfies it. */
export interface Logger {
  error(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
  debug(message: string, meta?: Record<string, unknown>): unknown;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
}

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

const human = winston.format.printf((info) => {
  const { time, level, message, ...fields } = info;
  const extra = Object.entries(fields)
    .filter(([k]) => typeof k === 'string')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${String(time)} ${level.toUpperCase().padEnd(5)} ${String(message)}${extra ? ` ${extra}` : ''}`;
});

/** A winston logger writing to stderr in the given level and format. */
export function createLogger(options: LoggerOptions = {}): winston.Logger {
  const format =
    (options.format ?? DEFAULT_LOG_FORMAT) === 'json'
      ? winston.format.combine(redact(), stamp(), winston.format.json())
      : winston.format.combine(redact(), stamp(), human);
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
