/**
 * The winston logger of {@link createLogger}: stderr, human lines or JSON
 * (`line-format.ts`), secrets dropped, debug lines checked against the level before
 * winston builds them. The winston module is a parameter: the library loads it with
 * `require` at the first logger it makes. The CLI writes the same lines without winston
 * (`line-logger.ts`).
 */
import type winston from 'winston';
import { dropSecrets } from './redact.js';
import { type LoggerOptions, humanLine, isoTime, wantsColor } from './line-format.js';
import { DEFAULT_LOG_FORMAT, DEFAULT_LOG_LEVEL, LOG_LEVELS } from './levels.js';

/** The winston module. */
export type Winston = typeof winston;

/** A winston logger. */
export type WinstonLogger = winston.Logger;

/** A winston logger writing to stderr in the given level and format, made with `w`. */
export function createWinstonLogger(w: Winston, options: LoggerOptions = {}): WinstonLogger {
  // Drops any field that could carry a secret, whatever a caller passes.
  const redact = w.format((info) => dropSecrets(info));
  // Stamps each line with `time` (ISO 8601).
  const stamp = w.format((info) => {
    info.time = isoTime();
    return info;
  });
  const color = options.color ?? wantsColor();
  const format =
    (options.format ?? DEFAULT_LOG_FORMAT) === 'json'
      ? w.format.combine(redact(), stamp(), w.format.json())
      : w.format.combine(
          redact(),
          stamp(),
          w.format.printf((info) => humanLine(info, color)),
        );
  const logger = w.createLogger({
    level: options.level ?? DEFAULT_LOG_LEVEL,
    levels: w.config.npm.levels,
    format,
    transports: [new w.transports.Console({ stderrLevels: [...LOG_LEVELS, 'verbose', 'silly', 'http'] })],
  });
  // winston builds and streams an entry before it drops one below the level: about 30 us
  // for each debug line of a server's new connection. Check the level first (it stays
  // changeable at run time), by a lookup: `isDebugEnabled()` asks every transport, some
  // 3 us a call, a debug line or two per connection.
  const debug = logger.debug.bind(logger);
  const levels: Record<string, number> = w.config.npm.levels;
  logger.debug = ((...args: Parameters<winston.LeveledLogMethod>) =>
    (levels[logger.level] ?? 0) >= levels.debug! ? debug(...args) : logger) as winston.LeveledLogMethod;
  return logger;
}
