/**
 * The winston logger of {@link createLogger} and of the CLI: stderr, human lines or
 * JSON, secrets dropped, debug lines checked against the level before winston builds
 * them. The winston module is a parameter: the library loads it with `require` at the
 * first logger it makes, the CLI with a dynamic `import` its bundle can follow.
 */
import type winston from 'winston';
import { SECRET_KEYS } from './redact.js';
import { DEFAULT_LOG_FORMAT, DEFAULT_LOG_LEVEL, LOG_LEVELS } from './levels.js';
import type { LogFormat, LogLevel } from './levels.js';

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

/** A value that logfmt reads up to the first space as it is: no space, quote, `=`, backslash or control character, not empty. */
const BARE = /^[^\s"=\\\p{Cc}]+$/u;

/**
 * A field's value as logfmt writes it: bare when it can be, else in double quotes with
 * `"`, `\` and control characters escaped (as JSON escapes them). A value that is not a
 * string is its JSON text first.
 */
export function logfmtValue(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return BARE.test(text) ? text : JSON.stringify(text);
}

/**
 * One human line, `time LEVEL message key=value ...`, the fields as logfmt writes them
 * ({@link logfmtValue}: a value with a space or a quote is quoted); with `color`, the
 * level in its colour and the public address of `listening at …` in bold cyan.
 */
export function humanLine(info: Record<string, unknown>, color: boolean): string {
  const { time, level, message, ...fields } = info;
  const extra = Object.entries(fields)
    .map(([k, v]) => `${k}=${logfmtValue(v)}`)
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

/** The winston module. */
export type Winston = typeof winston;

/** A winston logger. */
export type WinstonLogger = winston.Logger;

/** A winston logger writing to stderr in the given level and format, made with `w`. */
export function createWinstonLogger(w: Winston, options: LoggerOptions = {}): WinstonLogger {
  // Drops any field that could carry a secret ({@link SECRET_KEYS}), whatever a caller passes.
  const redact = w.format((info) => {
    for (const k of Object.keys(info)) if (SECRET_KEYS.has(k)) delete info[k];
    return info;
  });
  // Stamps each line with `time` (ISO 8601).
  const stamp = w.format((info) => {
    info.time = new Date().toISOString();
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
