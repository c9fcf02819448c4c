/**
 * The logger's levels and formats with their defaults, the values `--log-level` and
 * `--log-format` accept. Plain data: the CLI builds its help from it without loading
 * the logger (winston).
 */

/** Log levels accepted by `--log-level`, most severe first. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
/** Log formats accepted by `--log-format`. */
export const LOG_FORMATS = ['human', 'json'] as const;

/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];
/** A log format. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Level used when none is given. */
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';
/** Format used when none is given. */
export const DEFAULT_LOG_FORMAT: LogFormat = 'human';

/** Whether `value` is a {@link LogLevel}. */
export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/** Whether `value` is a {@link LogFormat}. */
export function isLogFormat(value: string): value is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(value);
}
