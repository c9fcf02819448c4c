/**
 * The text of a log line, the same whichever writes it (the CLI's line logger, the
 * library's winston logger): the human line with its logfmt fields and colours, and
 * whether a stream gets colours, the time stamp. Plain functions, no logger loaded.
 */
import type { LogFormat, LogLevel } from './levels.js';

/** Options of a logger: {@link createLogger}'s and the CLI's. */
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

/** A bigint as its digits in a string, as winston's JSON format writes it (JSON has no bigint). */
export function bigintAsText(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/**
 * A field's value as logfmt writes it: bare when it can be, else in double quotes with
 * `"`, `\` and control characters escaped (as JSON escapes them). A value that is not a
 * string is its JSON text first.
 */
export function logfmtValue(value: unknown): string {
  const text =
    typeof value === 'string'
      ? value
      : typeof value === 'bigint'
        ? value.toString()
        : (JSON.stringify(value, bigintAsText) ?? String(value));
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

/**
 * `ms` (epoch milliseconds) in ISO 8601, UTC, as `Date.prototype.toISOString` writes it
 * (which it calls for a year outside 0-9999, and for an invalid time, to throw as it does).
 * Not `toISOString` itself: V8 looks up the local time zone's display name for it, which
 * loads ICU's time-zone names at the first call: 0.8 ms and 1 MB of resident memory
 * (measured on Node 24), for a name an ISO time never shows.
 */
export function isoTime(ms: number = Date.now()): string {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) return d.toISOString();
  const date = `${pad(year, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  return `${date}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}Z`;
}

/** `n` in decimal, zero-padded to `width` digits. */
function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}
