/**
 * The CLI's logger: the lines of the winston logger (`winston-logger.ts`), the same
 * human and JSON text byte for byte, written to stderr by a plain function. winston is a
 * stream pipeline of formats and transports; the CLI used one transport (stderr) and
 * formats of its own (the human line, redaction, the timestamp), and loading winston
 * cost some 30 ms of a bare listener's start and 7 MB of its memory (bench/README.md).
 * `test/line-logger.test.ts` holds the two to the same lines. The library's
 * `createLogger` still returns a winston logger, for an embedder's own transports.
 */
import stringify from 'safe-stable-stringify';
import { dropSecrets } from './redact.js';
import { DEFAULT_LOG_FORMAT, DEFAULT_LOG_LEVEL, type LogLevel } from './levels.js';
import { type LoggerOptions, bigintAsText, humanLine, isoTime, wantsColor } from './line-format.js';
import type { Logger } from './logger.js';

/** Each level's rank: a line is written when its rank is at most the logger's. */
const RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

/**
 * A {@link Logger} writing each line to `write` (stderr by default) in the given level and
 * format, as {@link createWinstonLogger} would: the line's fields, then `level` and
 * `message` (a field `message` is appended to it), secret fields dropped, `time` stamped.
 */
export function createLineLogger(
  options: LoggerOptions = {},
  write: (line: string) => unknown = (line) => process.stderr.write(line),
): Logger {
  const least = RANK[options.level ?? DEFAULT_LOG_LEVEL];
  const json = (options.format ?? DEFAULT_LOG_FORMAT) === 'json';
  const color = options.color ?? wantsColor();
  const log = (level: LogLevel) => {
    const rank = RANK[level];
    return (message: string, meta?: Record<string, unknown>): undefined => {
      if (rank > least) return;
      const info: Record<string, unknown> = { ...meta, level, message };
      if (meta !== undefined) {
        // As winston's `log(level, message, meta)` does.
        // eslint-disable-next-line @typescript-eslint/no-base-to-string -- winston's own text of it
        if (meta.message) info.message = `${message} ${String(meta.message)}`;
        if (meta.stack) info.stack = meta.stack;
        if (meta.cause) info.cause = meta.cause;
        dropSecrets(info);
      }
      info.time = isoTime();
      write(`${json ? stringify(info, bigintAsText) : humanLine(info, color)}\n`);
    };
  };
  return { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug') };
}
