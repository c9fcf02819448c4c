/**
 * Running it for real, from the real CLI as child processes: `--secret-file` and
 * `BORE_SECRET_FILE` (read at start, never printed, bad files are usage errors naming
 * the path), the warning of a server open to the network without a secret, JSON for
 * every stderr line under `--log-format json` (the second signal too), colour only
 * on a terminal without `NO_COLOR`, and the info line of a public port range that
 * overlaps Linux's ephemeral ports.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BoreProcess, CLI, connect, roundTrip, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { humanLine, wantsColor } from '../src/log/logger.js';
import { EPHEMERAL_RANGE_FILE, ephemeralOverlap, ephemeralRange } from '../src/server/ephemeral.js';

const SECRET = 'ops-test-secret-5ca1ab1e';
const dir = mkdtempSync(path.join(tmpdir(), 'bore-ops-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `content` to a file in the test's directory; returns its path. */
function file(name: string, content: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, content, { mode: 0o600 });
  return p;
}

/** Runs the CLI to completion; resolves with its exit code and output. */
async function run(args: string[], env: Record<string, string> = {}) {
  const p = new BoreProcess(args, env);
  return { code: await p.exited, output: p.output };
}

const LOOPBACK = ['--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1'];

test('--secret-file and BORE_SECRET_FILE: a tunnel authenticates with the file, trailing newline trimmed; the secret is never printed', async () => {
  const secretFile = file('secret', `${SECRET}\n`);
  const wrongFile = file('wrong', `${SECRET}-wrong\r\n`);
  const echo = await startEchoServer();
  const server = await startServer([...LOOPBACK, '--secret-file', secretFile, '--log-level', 'debug']);
  try {
    assert.match(server.output, /auth=true/);
    const client = await startClient(echo.port, server.controlPort, ['--log-level', 'debug'], { BORE_SECRET_FILE: secretFile });
    const s = await connect(client.publicPort);
    assert.deepEqual(await roundTrip(s, Buffer.from('hello')), Buffer.from('hello'));
    s.destroy();
    // The same secret given directly must agree with the file's (the newline was trimmed).
    const direct = await startClient(echo.port, server.controlPort, [], { BORE_SECRET: SECRET });
    assert.equal(await direct.stop(), 0);
    const wrong = await run([
      'local',
      String(echo.port),
      '--to',
      '127.0.0.1',
      '--control-port',
      String(server.controlPort),
      '--secret-file',
      wrongFile,
    ]);
    assert.equal(wrong.code, 3, wrong.output);
    assert.equal(await client.stop(), 0);
    for (const out of [server.output, client.output, direct.output, wrong.output]) assert.ok(!out.includes(SECRET), out);
  } finally {
    await server.stop('SIGKILL');
    await echo.close();
  }
});

test('a bad secret file is a usage error naming the path, never the content', async () => {
  const good = file('good', `${SECRET}\n`);
  const empty = file('empty', '');
  const newlines = file('newlines', '\n\n');
  const unreadable = file('unreadable', `${SECRET}\n`);
  chmodSync(unreadable, 0o000);
  const missing = path.join(dir, 'missing');
  const local = ['local', '3000', '--to', '127.0.0.1'];
  const cases: { args: string[]; env?: Record<string, string>; re: RegExp }[] = [
    { args: [...local, '--secret-file', empty], re: new RegExp(`--secret-file: '${empty}' is empty`) },
    { args: ['server', '--secret-file', newlines], re: new RegExp(`--secret-file: '${newlines}' is empty`) },
    { args: ['server', '--secret-file', missing], re: new RegExp(`--secret-file: cannot read '${missing}' \\(ENOENT\\)`) },
    { args: local, env: { BORE_SECRET_FILE: missing }, re: new RegExp(`BORE_SECRET_FILE: cannot read '${missing}' \\(ENOENT\\)`) },
    { args: [...local, '--secret', SECRET, '--secret-file', good], re: /--secret and --secret-file given together/ },
    { args: ['server'], env: { BORE_SECRET: SECRET, BORE_SECRET_FILE: good }, re: /BORE_SECRET and BORE_SECRET_FILE both set/ },
    { args: ['server', '--secret-file'], re: /secret-file/ },
  ];
  // root reads any file: only check the unreadable one when it really is unreadable.
  if (process.getuid?.() !== 0) {
    cases.push({ args: ['server', '--secret-file', unreadable], re: new RegExp(`cannot read '${unreadable}' \\(EACCES\\)`) });
  }
  for (const c of cases) {
    const r = await run(c.args, c.env);
    assert.equal(r.code, 2, `${c.args.join(' ')}: ${r.output}`);
    assert.match(r.output, c.re);
    assert.match(r.output, /^error: /);
    assert.ok(!r.output.includes(SECRET), r.output);
  }
  // Under --log-format json the same error is a JSON line.
  const r = await run(['server', '--log-format', 'json', '--secret-file', missing]);
  assert.equal(r.code, 2);
  const line = JSON.parse(r.output.trim()) as Record<string, unknown>;
  assert.equal(line.level, 'error');
  assert.equal(line.code, 'usage');
  assert.match(String(line.message), /cannot read/);
});

test('a server listening beyond loopback without a secret says so; loopback or a secret stays quiet', async () => {
  const warning = /WARN {2}no secret: anyone who can reach (\S+) can open tunnels \(use --secret or --secret-file\)/;
  const open = await startServer(['--bind-tunnels', '127.0.0.1']);
  try {
    const m = await open.waitFor(warning);
    assert.equal(m[1], `0.0.0.0:${open.controlPort}`);
  } finally {
    await open.stop();
  }
  const tunnelsOnly = await startServer(['--bind-addr', '::1']);
  try {
    await tunnelsOnly.waitFor(/WARN {2}no secret: anyone who can reach 0\.0\.0\.0 can connect to the tunnels/);
  } finally {
    await tunnelsOnly.stop();
  }
  for (const [args, env] of [
    [LOOPBACK, {}],
    [['--bind-addr', '127.0.0.2', '--bind-tunnels', '127.0.0.1'], {}],
    [[], { BORE_SECRET: SECRET }],
  ] as const) {
    const quiet = await startServer([...args], env);
    // The warning follows the listening line at once: a debug line after it would do, but
    // the server's SIGTERM lines come after anything written at start.
    assert.equal(await quiet.stop(), 0);
    assert.doesNotMatch(quiet.output, /no secret/, quiet.output);
  }
});

test('--log-format json: a second SIGINT during the drain is a JSON line too', async () => {
  const echo = await startEchoServer();
  const args = ['server', '--control-port', '0', ...LOOPBACK, '--log-format', 'json', '--drain-timeout', '30'];
  const server = new BoreProcess(args);
  const [listening] = await server.waitFor(/^\{.*"message":"server listening".*\}$/m);
  const controlPort = (JSON.parse(listening) as { port: number }).port;
  try {
    const client = await startClient(echo.port, controlPort);
    const pub = await connect(client.publicPort);
    pub.on('error', () => {});
    pub.write('ping'); // an open connection keeps the drain waiting
    await once(pub, 'data');
    server.proc.kill('SIGINT');
    await server.waitFor(/draining connections/);
    server.proc.kill('SIGINT');
    assert.equal(await server.exited, 0);
    pub.destroy();
    await client.stop('SIGKILL');
    const lines = server.output.split('\n').filter((l) => l.trim() !== '');
    for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), `not JSON: ${l}`);
    assert.ok(
      lines.some((l) => /received SIGINT again, exiting without waiting/.test((JSON.parse(l) as { message: string }).message)),
      server.output,
    );
  } finally {
    await server.stop('SIGKILL');
    await echo.close();
  }
});

test('human lines: colour only when asked (a TTY without NO_COLOR), the public address highlighted', () => {
  const info = { time: 'T', level: 'info', message: 'listening at bore.example.com:4242', port: 4242 };
  assert.equal(humanLine(info, false), 'T INFO  listening at bore.example.com:4242 port=4242');
  assert.equal(humanLine(info, true), 'T \x1b[32mINFO \x1b[0m listening at \x1b[1;36mbore.example.com:4242\x1b[0m port=4242');
  assert.equal(humanLine({ time: 'T', level: 'warn', message: 'w' }, true), 'T \x1b[33mWARN \x1b[0m w');
  assert.equal(humanLine({ time: 'T', level: 'error', message: 'e' }, true), 'T \x1b[31mERROR\x1b[0m e');
  assert.equal(wantsColor({ isTTY: true }, {}), true);
  assert.equal(wantsColor({ isTTY: true }, { NO_COLOR: '1' }), false);
  assert.equal(wantsColor({ isTTY: true }, { NO_COLOR: '' }), true, 'an empty NO_COLOR does not count (no-color.org)');
  assert.equal(wantsColor({ isTTY: false }, {}), false);
  assert.equal(wantsColor({ isTTY: false }, { FORCE_COLOR: '1' }), true, 'FORCE_COLOR colours a pipe');
  assert.equal(wantsColor({ isTTY: false }, { FORCE_COLOR: '' }), true, 'an empty FORCE_COLOR forces too, as in Node');
  assert.equal(wantsColor({ isTTY: true }, { FORCE_COLOR: '0' }), false);
  assert.equal(wantsColor({ isTTY: true }, { FORCE_COLOR: 'false', NO_COLOR: '' }), false);
  assert.equal(wantsColor({}, {}), false);
});

/** The start of an ANSI escape sequence. */
const ESC = '\x1b[';

const hasScript = spawnSync('script', ['--version']).status === 0;

/** Runs `bore server` on a pseudo-TTY (util-linux `script`) until it listens; returns what it wrote. */
async function onTerminal(env: Record<string, string>): Promise<string> {
  const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} server --control-port 0 --bind-addr 127.0.0.1 --bind-tunnels 127.0.0.1`;
  const base: NodeJS.ProcessEnv = { ...process.env };
  delete base.NO_COLOR;
  delete base.FORCE_COLOR;
  const proc = spawn('script', ['-qec', command, '/dev/null'], { env: { ...base, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line on the terminal: ${out}`)), 10_000);
    proc.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (/server listening[^\n]*\n/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  proc.kill('SIGTERM');
  await new Promise((resolve) => proc.once('exit', resolve));
  return out;
}

test(
  'on a terminal the level is coloured; NO_COLOR or a pipe turns it off',
  { skip: !hasScript && 'no `script` (util-linux)' },
  async () => {
    assert.ok((await onTerminal({})).includes('\x1b[32mINFO \x1b[0m server listening'), 'coloured INFO on a terminal');
    assert.ok(!(await onTerminal({ NO_COLOR: '1' })).includes(ESC), 'no escape with NO_COLOR');
    const piped = await startServer(LOOPBACK);
    assert.equal(await piped.stop(), 0);
    assert.ok(!piped.output.includes(ESC), piped.output);
  },
);

test('the ephemeral port range is read from its file; none where the file is missing or makes no sense', () => {
  const range = file('ip_local_port_range', '32768\t60999\n');
  assert.deepEqual(ephemeralRange(range), { min: 32768, max: 60999 });
  assert.deepEqual(ephemeralOverlap(1024, 65535, range), { min: 32768, max: 60999 });
  assert.deepEqual(ephemeralOverlap(40000, 40099, range), { min: 40000, max: 40099 });
  assert.deepEqual(ephemeralOverlap(60000, 65535, range), { min: 60000, max: 60999 });
  assert.equal(ephemeralOverlap(20000, 20999, range), undefined);
  assert.equal(ephemeralOverlap(61000, 65535, range), undefined);
  assert.equal(ephemeralRange(path.join(dir, 'no-such-file')), undefined);
  assert.equal(ephemeralOverlap(1024, 65535, path.join(dir, 'no-such-file')), undefined);
  assert.equal(ephemeralRange(file('garbage', 'not a range\n')), undefined);
  assert.equal(ephemeralRange(file('reversed', '60999 32768\n')), undefined);
});

test(
  "bore server says once when its public range overlaps the kernel's ephemeral ports, and not when it does not",
  { skip: !existsSync(EPHEMERAL_RANGE_FILE) && `no ${EPHEMERAL_RANGE_FILE} (not Linux): nothing to say` },
  async () => {
    const kernel = ephemeralRange()!;
    const line = /INFO {2}public ports (\d+)-(\d+) are also the kernel's ephemeral ports \(net\.ipv4\.ip_local_port_range\)/g;
    const overlapping = await startServer(LOOPBACK);
    assert.equal(await overlapping.stop(), 0);
    const said = [...overlapping.output.matchAll(line)];
    assert.equal(said.length, 1, overlapping.output);
    const overlap = ephemeralOverlap(1024, 65535)!;
    assert.deepEqual([Number(said[0]![1]), Number(said[0]![2])], [overlap.min, overlap.max]);
    // A range outside the kernel's, below or above it.
    const outside =
      kernel.min > 1100 ? ['--min-port', '1024', '--max-port', String(kernel.min - 1)] : ['--min-port', String(kernel.max + 1)];
    const quiet = await startServer([...LOOPBACK, ...outside]);
    assert.equal(await quiet.stop(), 0);
    assert.doesNotMatch(quiet.output, /ephemeral/, quiet.output);
  },
);
