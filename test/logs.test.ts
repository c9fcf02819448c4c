/**
 * Logs of the real CLI: `--log-format json` (or BORE_LOG_FORMAT=json) prints one JSON
 * object per line with the time, level, message and fields; human lines stay the
 * default, their fields written as logfmt (a value with a space or a quote quoted); the
 * secret never appears in either.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BoreProcess, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { humanLine } from '../src/log/logger.js';

const SECRET = 'logs-test-secret-c0ffee42';
const PORTS = ['--min-port', '25400', '--max-port', '25499'];

interface Run {
  server: string;
  client: string;
  wrongSecret: string;
}

/**
 * One tunnel life in the given format: listening, the server dies (loss, backoff, a
 * refused reconnect), SIGTERM; plus a client refused for a wrong secret (fatal).
 */
async function tunnelLife(format: 'json' | 'human' | undefined, via: 'flag' | 'env'): Promise<Run> {
  const flag = format && via === 'flag' ? ['--log-format', format] : [];
  const env: Record<string, string> = format && via === 'env' ? { BORE_LOG_FORMAT: format } : {};
  const echo = await startEchoServer();
  const server =
    format === 'json'
      ? await startJsonServer([...PORTS, '--secret', SECRET, ...flag], env)
      : await startServer([...PORTS, '--secret', SECRET, ...flag], env);
  try {
    const client = await startClient(echo.port, server.controlPort, [...flag, '--log-level', 'debug'], { ...env, BORE_SECRET: SECRET });
    const wrong = new BoreProcess(
      [
        'local',
        String(echo.port),
        '--to',
        '127.0.0.1',
        '--control-port',
        String(server.controlPort),
        '--secret',
        `${SECRET}-wrong`,
        ...flag,
      ],
      env,
    );
    assert.equal(await wrong.exited, 3);
    await server.stop('SIGKILL');
    await client.waitFor(/connection failed/); // the loss, then a refused reconnect attempt
    assert.equal(await client.stop('SIGTERM'), 0);
    return { server: server.output, client: client.output, wrongSecret: wrong.output };
  } finally {
    await server.stop('SIGKILL');
    await echo.close();
  }
}

/** `startServer` for JSON logs: the control port is read from the `server listening` object. */
async function startJsonServer(args: string[], env: Record<string, string>) {
  const proc = new BoreProcess(['server', '--control-port', '0', ...args], env);
  const [line] = await proc.waitFor(/^\{.*"message":"server listening".*\}$/m);
  return Object.assign(proc, { controlPort: (JSON.parse(line) as { port: number }).port });
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      try {
        const v = JSON.parse(line) as unknown;
        assert.ok(v && typeof v === 'object' && !Array.isArray(v), `not an object: ${line}`);
        return v as Record<string, unknown>;
      } catch (err) {
        throw new Error(`not a JSON line: ${line} (${(err as Error).message})`, { cause: err });
      }
    });
}

let json: Run;
let human: Run;
let jsonFromEnv: Run;
before(async () => {
  [json, human] = await Promise.all([tunnelLife('json', 'flag'), tunnelLife(undefined, 'flag')]);
  jsonFromEnv = await tunnelLife('json', 'env');
});

test('--log-format json: every line is one JSON object with a time, level and message', () => {
  for (const run of [json, jsonFromEnv]) {
    for (const out of [run.server, run.client, run.wrongSecret]) {
      const lines = jsonLines(out);
      assert.ok(lines.length > 0);
      for (const l of lines) {
        assert.ok(['error', 'warn', 'info', 'debug'].includes(l.level as string), `level of ${JSON.stringify(l)}`);
        assert.equal(typeof l.message, 'string');
        const time = l.time as string;
        assert.ok(!Number.isNaN(Date.parse(time)), `time of ${JSON.stringify(l)}`);
      }
    }
  }
});

test('json lines carry the fields of what happened: attempt, delay, port, reason', () => {
  const lines = jsonLines(json.client);
  const find = (re: RegExp) => {
    const l = lines.find((x) => re.test(x.message as string));
    assert.ok(l, `no line matching ${re} in:\n${json.client}`);
    return l;
  };
  assert.equal(find(/^connecting to /).attempt, 1);
  assert.equal(find(/^connection lost/).class, 'retriable');
  assert.equal(typeof find(/^reconnecting in /).delay, 'number');
  assert.equal(lines.filter((l) => /^connecting to /.test(l.message as string)).at(-1)!.attempt, 2);
  const fatal = jsonLines(json.wrongSecret).find((l) => l.level === 'error')!;
  assert.equal(fatal.code, 'invalid-secret');
  assert.equal(typeof fatal.reason, 'string');
  const server = jsonLines(json.server);
  assert.equal(typeof server.find((l) => l.message === 'server listening')!.port, 'number');
});

test("json lines use the issue's field names: time, and state/attempt/port on transitions", () => {
  const lines = jsonLines(json.client);
  for (const l of lines) assert.equal(typeof l.time, 'string', `no "time" in ${JSON.stringify(l)}`);
  const listening = lines.find((l) => /^listening at /.test(l.message as string))!;
  assert.equal(listening.state, 'listening');
  assert.equal(typeof listening.port, 'number');
  const retry = lines.find((l) => /^reconnecting in /.test(l.message as string))!;
  assert.equal(retry.state, 'backoff');
  assert.equal(retry.attempt, 2);
});

test('human lines are the default: time, level, message, key=value fields', () => {
  for (const out of [human.server, human.client, human.wrongSecret]) {
    const lines = out.split('\n').filter((l) => l.trim() !== '');
    assert.ok(lines.length > 0);
    for (const line of lines) assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN |INFO |DEBUG) \S/);
  }
  assert.match(human.client, /INFO  listening at 127\.0\.0\.1:\d+ .*local=/);
  assert.match(human.client, /reconnecting in \d+\.\ds \(attempt 2\) .*delay=\d+/);
});

/**
 * The logfmt fields at the end of a human line (after its message), parsed as logfmt
 * parsers read them: `key=bare` or `key="quoted, \\" and \\\\ escaped"`.
 */
function logfmtFields(line: string): Record<string, string> {
  const fields: Record<string, string> = {};
  const pair = /\s([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|[^\s"=]*)$/;
  let rest = line;
  for (let m = pair.exec(rest); m; m = pair.exec(rest)) {
    const value = m[2] ?? '';
    fields[m[1] ?? ''] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
    rest = rest.slice(0, m.index);
  }
  return fields;
}

test('human lines quote values with spaces, quotes or `=` so that they parse as logfmt', () => {
  const tricky = {
    plain: 'ECONNRESET',
    spaced: 'closed by client',
    quoted: 'say "hi"',
    equals: 'a=b',
    backslash: 'C:\\bore',
    empty: '',
    newline: 'two\nlines',
    peer: '[::1]:7835',
  };
  const line = humanLine({ time: 'T', level: 'warn', message: 'a message with spaces', ...tricky, port: 42, obj: { a: 'b c' } }, false);
  assert.equal(
    line,
    'T WARN  a message with spaces plain=ECONNRESET spaced="closed by client" quoted="say \\"hi\\"" equals="a=b" backslash="C:\\\\bore" empty="" newline="two\\nlines" peer=[::1]:7835 port=42 obj="{\\"a\\":\\"b c\\"}"',
  );
  assert.deepEqual(logfmtFields(line), { ...tricky, port: '42', obj: '{"a":"b c"}' });
  // From the real server: the refusal of the client with a wrong secret.
  const refusal = human.server.split('\n').find((l) => l.includes('WARN  refusing client'));
  assert.ok(refusal, human.server);
  assert.match(refusal, / reason="invalid secret"$/);
  assert.equal(logfmtFields(refusal).reason, 'invalid secret');
  assert.match(logfmtFields(refusal).peer ?? '', /^127\.0\.0\.1:\d+$/);
});

test('the secret appears in no log line, in either format', () => {
  for (const run of [json, human, jsonFromEnv]) {
    for (const out of [run.server, run.client, run.wrongSecret]) {
      assert.ok(out.length > 0);
      assert.ok(!out.includes(SECRET), `secret leaked in:\n${out}`);
    }
  }
});

test('--log-format wins over BORE_LOG_FORMAT; a bad value is a usage error', async () => {
  const p = new BoreProcess(['server', '--control-port', '0', ...PORTS, '--log-format', 'human'], { BORE_LOG_FORMAT: 'json' });
  await p.waitFor(/INFO  server listening/);
  await p.stop('SIGKILL');
  const bad = new BoreProcess(['server', '--control-port', '0', ...PORTS], { BORE_LOG_FORMAT: 'xml' });
  assert.equal(await bad.exited, 2);
  assert.match(bad.output, /invalid BORE_LOG_FORMAT 'xml' \(one of human, json\)/);
});
