/**
 * End to end with real processes on loopback: `bore server` and `bore local` (the built
 * CLI) with an echo service behind the tunnel. Every wait is on an event: a log line,
 * a port opening, a socket closing, a process exiting.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { BoreProcess, connect, roundTrip, sha256, startClient, startEchoServer, startServer } from './helpers/procs.js';

/** This file's public port range (see the test plan: 21000-21999, replay uses 21000-21100). */
const RANGE = ['--min-port', '21200', '--max-port', '21999'];

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function server(args: string[] = [], env: Record<string, string> = {}) {
  const s = await startServer([...RANGE, ...args], env);
  cleanups.push(() => s.stop());
  return s;
}

async function client(localPort: number, controlPort: number, args: string[] = [], env: Record<string, string> = {}) {
  const c = await startClient(localPort, controlPort, args, env);
  cleanups.push(() => c.stop());
  return c;
}

async function echo(port = 0) {
  const e = await startEchoServer(port);
  cleanups.push(() => e.close());
  return e;
}

/** Runs the CLI to completion; resolves with its exit code and output. */
async function run(args: string[], env: Record<string, string> = {}) {
  const p = new BoreProcess(args, env);
  cleanups.push(() => p.stop('SIGKILL'));
  const code = await p.exited;
  return { code, output: p.output };
}

/** One round trip through the public port. */
async function through(publicPort: number, data: Buffer): Promise<Buffer> {
  return roundTrip(await connect(publicPort), data);
}

test('a tunnel without a secret carries data both ways', { timeout: 30_000 }, async () => {
  const srv = await server();
  const svc = await echo();
  const cli = await client(svc.port, srv.controlPort);
  assert.ok(cli.publicPort >= 21200 && cli.publicPort <= 21999, `public port ${cli.publicPort} is in the server's range`);
  await srv.waitFor(new RegExp(`new client .*port=${cli.publicPort}`));
  const data = Buffer.from('hello through bore\n');
  assert.deepEqual(await through(cli.publicPort, data), data);
  // A second connection over the same tunnel works too.
  assert.deepEqual(await through(cli.publicPort, Buffer.from('again')), Buffer.from('again'));
  assert.equal(cli.proc.exitCode, null);
});

for (const how of ['--secret', 'BORE_SECRET'] as const) {
  test(`a tunnel with a shared secret (${how}) works and the secret is never printed`, { timeout: 30_000 }, async () => {
    const secret = `e2e-${how}-${randomBytes(8).toString('hex')}`;
    const args = how === '--secret' ? ['--secret', secret, '--log-level', 'debug'] : ['--log-level', 'debug'];
    const env: Record<string, string> = how === 'BORE_SECRET' ? { BORE_SECRET: secret } : {};
    const srv = await server(args, env);
    await srv.waitFor(/server listening .*auth=true/);
    const svc = await echo();
    const cli = await client(svc.port, srv.controlPort, args, env);
    const data = randomBytes(4096);
    assert.deepEqual(await through(cli.publicPort, data), data);
    // Without the secret the same server refuses (so the secret really is in force).
    const bare = await run(['local', String(svc.port), '--to', '127.0.0.1', '--control-port', String(srv.controlPort)], {
      BORE_SECRET: '',
    });
    assert.equal(bare.code, 3, bare.output);
    assert.match(bare.output, /server requires authentication, but no client secret was provided/);
    assert.equal(await cli.stop(), 0);
    assert.equal(await srv.stop(), 0);
    for (const [who, out] of [
      ['server', srv.output],
      ['client', cli.output],
    ] as const) {
      assert.ok(out.length > 0, `${who} wrote a log`);
      assert.ok(!out.includes(secret), `${who} output contains the secret:\n${out}`);
    }
  });
}

test('16 MiB of random bytes cross the tunnel intact', { timeout: 60_000 }, async () => {
  const srv = await server();
  const svc = await echo();
  const cli = await client(svc.port, srv.controlPort);
  const data = randomBytes(16 * 1024 * 1024);
  const back = await through(cli.publicPort, data);
  assert.equal(back.length, data.length);
  assert.equal(sha256(back), sha256(data));
});

test('50 concurrent connections each get their own data back', { timeout: 60_000 }, async () => {
  const srv = await server();
  const svc = await echo();
  const cli = await client(svc.port, srv.controlPort);
  const payloads = Array.from({ length: 50 }, (_, i) => Buffer.concat([Buffer.from(`connection ${i}:`), randomBytes(16 * 1024 + i)]));
  const sockets = await Promise.all(payloads.map(() => connect(cli.publicPort)));
  const results = await Promise.all(sockets.map((s, i) => roundTrip(s, payloads[i]!)));
  for (const [i, r] of results.entries())
    assert.ok(r.equals(payloads[i]!), `connection ${i} got ${r.length} bytes, not its own ${payloads[i]!.length}`);
});

test('a wrong secret is refused: "invalid secret", exit code 3, and the server keeps serving', { timeout: 30_000 }, async () => {
  const secret = `right-${randomBytes(6).toString('hex')}`;
  const wrong = `wrong-${randomBytes(6).toString('hex')}`;
  const srv = await server(['--secret', secret]);
  const svc = await echo();
  const r = await run(['local', String(svc.port), '--to', '127.0.0.1', '--control-port', String(srv.controlPort), '--secret', wrong]);
  assert.equal(r.code, 3, r.output);
  assert.match(r.output, /server error: invalid secret/);
  assert.ok(!r.output.includes(wrong) && !r.output.includes(secret), r.output);
  const good = await client(svc.port, srv.controlPort, ['--secret', secret]);
  assert.deepEqual(await through(good.publicPort, Buffer.from('still up')), Buffer.from('still up'));
  assert.ok(!srv.output.includes(wrong) && !srv.output.includes(secret), srv.output);
});

test('a port outside the server range is refused with exit code 3', { timeout: 30_000 }, async () => {
  const srv = await server();
  const svc = await echo();
  const r = await run(['local', String(svc.port), '--to', '127.0.0.1', '--control-port', String(srv.controlPort), '--port', '80']);
  assert.equal(r.code, 3, r.output);
  assert.match(r.output, /client port number not in allowed range/);
});

test('a local service that is down closes only that public connection; the tunnel stays up', { timeout: 30_000 }, async () => {
  const srv = await server();
  // A port that was free a moment ago and has nothing listening now.
  const gone = await startEchoServer();
  const port = gone.port;
  await gone.close();
  const cli = await client(port, srv.controlPort);

  const first = await connect(cli.publicPort);
  const received: Buffer[] = [];
  first.on('data', (c: Buffer) => received.push(c));
  first.on('error', () => {});
  first.write('anyone there?');
  await once(first, 'end'); // the tunnel closes the public connection (the socket allows half-open)
  first.destroy();
  assert.equal(Buffer.concat(received).length, 0, 'nothing came back from a service that is down');
  await cli.waitFor(/could not reach the local service/);
  // The reason says what could not be connected, where, and why.
  assert.match(
    cli.output,
    new RegExp(`could not connect to the local service at localhost:${port}: connection refused \\(ECONNREFUSED\\)`),
    cli.output,
  );
  assert.equal(cli.proc.exitCode, null, 'the client is still running');

  // Once the service is back, the same tunnel carries a new connection.
  await echo(port);
  assert.deepEqual(await through(cli.publicPort, Buffer.from('back again')), Buffer.from('back again'));
  assert.equal(cli.proc.exitCode, null);
  assert.doesNotMatch(cli.output, /connection lost|reconnect/, 'the control connection was never lost');
});

test('--help lists every flag of bore, bore local, bore up and bore server', { timeout: 30_000 }, async () => {
  const expected: [string[], string[]][] = [
    [['--help'], ['local', 'up', 'server', '--help', '--version']],
    [
      ['up', '--help'],
      ['--config', '--log-level', '--log-format', '--help', '--version'],
    ],
    [
      ['local', '--help'],
      [
        '--to',
        '--port',
        '--local-host',
        '--secret',
        '--secret-file',
        '--control-port',
        '--heartbeat-timeout',
        '--max-reconnect-delay',
        '--reconnect',
        '--retry-first',
        '--drain-timeout',
        '--log-level',
        '--log-format',
        '--help',
        '--version',
        'LOCAL_PORT',
      ],
    ],
    [
      ['server', '--help'],
      [
        '--min-port',
        '--max-port',
        '--secret',
        '--secret-file',
        '--control-port',
        '--bind-addr',
        '--bind-tunnels',
        '--client-timeout',
        '--max-pending',
        '--max-tunnels-per-addr',
        '--max-auth-failures',
        '--auth-failure-window',
        '--drain-timeout',
        '--log-level',
        '--log-format',
        '--help',
        '--version',
      ],
    ],
  ];
  for (const [args, flags] of expected) {
    const r = await run(args);
    assert.equal(r.code, 0, `bore ${args.join(' ')}: ${r.output}`);
    for (const flag of flags) {
      assert.match(r.output, new RegExp(`(^|\\s)${flag}(\\s|$)`, 'm'), `bore ${args.join(' ')} does not list ${flag}:\n${r.output}`);
    }
  }
});

test('an unknown flag is a usage error: exit code 2 and a message naming it', { timeout: 30_000 }, async () => {
  for (const args of [
    ['local', '3000', '--to', '127.0.0.1', '--bogus'],
    ['server', '--nope'],
  ]) {
    const r = await run(args);
    assert.equal(r.code, 2, `bore ${args.join(' ')}: ${r.output}`);
    assert.match(r.output, new RegExp(`unknown option ${args.at(-1)!}`), r.output);
  }
});

test('a flag without its value, or a bad value, is a usage error: exit code 2, the fix, no stack trace', { timeout: 30_000 }, async () => {
  for (const [args, message] of [
    [['local', '3000', '--to'], /missing value for --to: give it as `--to <HOST>`/],
    [['local', '3000', '--to', '127.0.0.1', '--secret'], /missing value for --secret: give it as `--secret <SECRET>`/],
    [['server', '--bind-addr'], /missing value for --bind-addr: give it as `--bind-addr <ADDR>`/],
    [['server', '--bind-addr', '999.1.1.1'], /invalid value for --bind-addr: '999.1.1.1' \(expected an IP address/],
    [['local', '3000'], /missing --to <TO>/],
    [['local', '3000', '--to', '127.0.0.1', '--port', 'abc'], /invalid value for --port: 'abc'/],
    [['server', '--max-pending', '0'], /invalid value for --max-pending: '0'/],
    [
      ['server', '--max-tunnels-per-addr', '1.5'],
      /invalid value for --max-tunnels-per-addr: '1.5' \(expected a whole number of at least 0\)/,
    ],
    [['server', '--max-auth-failures', '-5'], /invalid value for --max-auth-failures: '-5'/],
    [['server', '--auth-failure-window', '0'], /invalid value for --auth-failure-window: '0'/],
  ] as const) {
    const r = await run([...args]);
    assert.equal(r.code, 2, `bore ${args.join(' ')}: ${r.output}`);
    assert.match(r.output, message, r.output);
    assert.match(r.output, /Run `bore --help`/, r.output);
    assert.doesNotMatch(r.output, /\n\s+at /, `bore ${args.join(' ')} printed a stack trace:\n${r.output}`);
  }
});
