/**
 * The CLI's line logger (`src/log/line-logger.ts`) against the winston logger
 * (`src/log/winston-logger.ts`) it stands in for: for the same calls, at every level and
 * in both formats, the same lines on stderr, secrets dropped the same way. Fields are
 * generated, awkward ones included: quotes and spaces, nested objects, a bigint, and the
 * names winston treats apart (`message`, `level`, `stack`, `time`). One difference is
 * meant: winston drops every field of a line whose message holds a printf token (`%s`,
 * `%d`: it expects `format.splat()`, which it was never given); the line logger keeps them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import winston from 'winston';
import { createLineLogger } from '../src/log/line-logger.js';
import { createWinstonLogger } from '../src/log/winston-logger.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../src/log/levels.js';

/** An ISO time stamp, which differs between two loggers called a moment apart. */
const TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g;

/** One call of a logger. */
interface Call {
  level: LogLevel;
  message: string;
  meta?: Record<string, unknown>;
}

/** What winston writes to stderr for `calls`, made with `options` (its Console transport writes there). */
async function winstonLines(calls: Call[], options: { level: LogLevel; format: LogFormat; color: boolean }): Promise<string> {
  const logger = createWinstonLogger(winston, options);
  let out = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  };
  try {
    for (const { level, message, meta } of calls) logger[level](message, meta);
    // winston's formats and transport are a stream pipeline: its end is the end of the lines.
    const finished = new Promise((resolve) => logger.on('finish', resolve));
    logger.end();
    await finished;
  } finally {
    process.stderr.write = write;
  }
  return out.replace(TIME, 'T');
}

/** What the line logger writes for `calls`. */
function lineLoggerLines(calls: Call[], options: { level: LogLevel; format: LogFormat; color: boolean }): string {
  let out = '';
  const logger = createLineLogger(options, (line) => (out += line));
  for (const { level, message, meta } of calls) logger[level](message, meta);
  return out.replace(TIME, 'T');
}

const KEY = fc.constantFrom(
  'port',
  'peer',
  'tunnel',
  'reason',
  'message',
  'level',
  'stack',
  'time',
  'secret',
  'token',
  'key',
  'a b',
  'é',
  'zeta',
  'alpha',
);
/** winston's printf tokens (`formatRegExp` of its logger.js). */
const PRINTF_TOKEN = /%[scdjifoO%]/;
const TEXT = fc.oneof(
  fc.string(),
  fc.constantFrom('listening at 127.0.0.1:20068', 'a "quoted" word', 'x=y', 'back\\slash', 'line\nbreak', '100%'),
);
const MESSAGE = TEXT.filter((text) => !PRINTF_TOKEN.test(text));
const VALUE: fc.Arbitrary<unknown> = fc.oneof(
  TEXT,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.bigInt(),
  fc.array(fc.oneof(fc.integer(), TEXT), { maxLength: 3 }),
  fc.dictionary(KEY, fc.oneof(fc.integer(), TEXT), { maxKeys: 3, noNullPrototype: true }),
);
const CALL: fc.Arbitrary<Call> = fc.record(
  {
    level: fc.constantFrom(...LOG_LEVELS),
    message: MESSAGE,
    meta: fc.dictionary(KEY, VALUE, { maxKeys: 5, noNullPrototype: true }),
  },
  { requiredKeys: ['level', 'message'] },
);

test('the line logger writes the lines winston writes, in both formats, at every level', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(CALL, { minLength: 1, maxLength: 5 }),
      fc.constantFrom(...LOG_LEVELS),
      fc.constantFrom(...LOG_FORMATS),
      fc.boolean(),
      async (calls, level, format, color) => {
        const options = { level, format, color };
        assert.equal(lineLoggerLines(calls, options), await winstonLines(calls, options));
      },
    ),
    { numRuns: 300 },
  );
});

test('the line logger drops secrets and appends a message field, as the CLI relies on', () => {
  const out = lineLoggerLines(
    [{ level: 'info', message: 'new client', meta: { secret: 's3cret', token: 't0k', port: 1, message: 'more' } }],
    {
      level: 'info',
      format: 'json',
      color: false,
    },
  );
  assert.deepStrictEqual(JSON.parse(out), { level: 'info', message: 'new client more', port: 1, time: 'T' });
  assert.equal(lineLoggerLines([{ level: 'debug', message: 'quiet' }], { level: 'info', format: 'human', color: false }), '');
});

test('a message with a printf token keeps its fields (winston drops them)', async () => {
  const calls: Call[] = [{ level: 'warn', message: 'disk 90%d full', meta: { port: 7 } }];
  const options = { level: 'info', format: 'json', color: false } as const;
  assert.deepStrictEqual(JSON.parse(lineLoggerLines(calls, options)), { level: 'warn', message: 'disk 90%d full', port: 7, time: 'T' });
  assert.deepStrictEqual(JSON.parse(await winstonLines(calls, options)), { level: 'warn', message: 'disk 90%d full', time: 'T' });
});
