/**
 * The library API (`import ... from 'bore-ts'`): a tunnel and a server run in-process,
 * the defaults match the CLI's, and the example under `examples/` works end to end
 * against a real `bore server` and type-checks against the published types.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as bore from 'bore-ts';
import { tunnelSettings } from '../src/run/tunnel.js';
import { BoreProcess, CLI, connect, httpGet, roundTrip, sha256, startEchoServer, startServer } from './helpers/procs.js';
import { waitUntil } from './helpers/poll.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

test('the package entry exports the client machine, startTunnel, the server and the inspector', () => {
  for (const name of ['startTunnel', 'startInspector', 'createLogger'] as const) {
    assert.equal(typeof bore[name], 'function', name);
  }
  assert.equal(typeof bore.BoreServer, 'function');
  assert.equal(bore.clientMachine.id, 'bore');
  assert.equal(bore.DEFAULT_CONTROL_PORT, 7835);
  assert.deepEqual(bore.EXIT, { stopped: 0, usage: 2, fatal: 3, gaveUp: 4 });
  // Only what docs/library.md documents: internals (the runtime, the inspector's parts,
  // backoff and port-retry tuning) stay internal.
  assert.deepEqual(Object.keys(bore).sort(), [
    'ACME_ERROR',
    'AcmeError',
    'BoreServer',
    'DEFAULT_CONTROL_PORT',
    'EXIT',
    'TunnelError',
    'clientMachine',
    'createLogger',
    'objectFirstLogger',
    'silentLogger',
    'startInspector',
    'startTunnel',
    'startTunnels',
    'supervisorMachine',
    'tunnelsExitCode',
  ]);
});

test('startTunnel defaults are the CLI defaults (read from `bore local --help`)', async () => {
  const { stdout } = await run(process.execPath, [CLI, 'local', '--help']);
  // one block per option (yargs wraps long descriptions onto the next lines)
  const blocks = stdout.split(/\n(?=\s+(?:-\w, )?--)/);
  const dflt = (flag: string) => {
    const block = blocks.find((b) => new RegExp(`^\\s+(?:-\\w, )?--${flag}\\s`).test(b));
    const m = block && /\[default: ([^\]]+)\]/.exec(block);
    assert.ok(m, `no default shown for --${flag} in:\n${stdout}`);
    return m[1]!;
  };
  const s = tunnelSettings({ localPort: 3000, to: 'example.com' });
  assert.equal(s.controlPort, Number(dflt('control-port')));
  assert.equal(s.localHost, dflt('local-host'));
  assert.equal(s.port, Number(dflt('port')));
  assert.equal(s.heartbeatTimeoutMs, Number(dflt('heartbeat-timeout')) * 1000);
  assert.equal(s.maxReconnectDelayMs, Number(dflt('max-reconnect-delay')) * 1000);
  assert.equal(s.reconnect, dflt('reconnect') === 'true');
  assert.equal(s.retryFirst, dflt('retry-first') === 'true');
});

test('an embedded server and tunnel: snapshots, public port, bytes through, clean stop', async (t) => {
  // The server's own log line tells when it has noticed the closed control connection.
  let disconnected!: () => void;
  const clientGone = new Promise<void>((r) => (disconnected = r));
  const logger = { ...bore.silentLogger, info: (message: string) => message === 'client disconnected' && disconnected() };
  const server = new bore.BoreServer({
    controlPort: 0,
    bindAddr: '127.0.0.1',
    bindTunnels: '127.0.0.1',
    minPort: 25100,
    maxPort: 25199,
    logger,
  });
  const controlPort = await server.listen();
  t.after(() => server.close(0));
  const echo = await startEchoServer();
  t.after(() => echo.close());

  const tunnel = bore.startTunnel({ localPort: echo.port, localHost: '127.0.0.1', to: '127.0.0.1', controlPort });
  // A failed assertion must not leave the tunnel running: its timers would keep the file's process alive.
  t.after(() => tunnel.stop());
  const states: unknown[] = [tunnel.actor.getSnapshot().value];
  tunnel.actor.subscribe((s) => {
    if (JSON.stringify(s.value) !== JSON.stringify(states[states.length - 1])) states.push(s.value);
  });
  const publicPort = await tunnel.ready;
  assert.ok(publicPort >= 25100 && publicPort <= 25199, `public port ${publicPort} in the server's range`);
  assert.equal(tunnel.publicPort, publicPort);
  assert.equal(tunnel.actor.getSnapshot().context.publicPort, publicPort);
  assert.deepEqual(states.slice(0, 3), ['connecting', 'authenticating', { listening: { heartbeat: 'alive', pool: 'asking' } }]);
  // This server offers the pool the client asks for (4 by default).
  // The pool's counts are read when asked (no machine event per pooled connection): poll them.
  await waitUntil(
    () => tunnel.counts().pool.idle === 4,
    () => `the pool filled: ${JSON.stringify(tunnel.counts())}`,
    10_000,
  );
  assert.deepEqual(states[3], { listening: { heartbeat: 'alive', pool: 'open' } });
  // The client counts a pooled connection idle once its quiet join is sent, a moment
  // before the server has taken it (no answer comes back): wait for the server's count.
  await waitUntil(
    () => server.stats.pooled === 4,
    () => `the server pooled 4 (it has ${server.stats.pooled})`,
    10_000,
  );
  assert.equal(server.tunnelCount, 1);

  const data = randomBytes(256 * 1024);
  const back = await roundTrip(await connect(publicPort), data);
  assert.equal(sha256(back), sha256(data));

  const result = await tunnel.stop();
  assert.deepEqual(result, { state: 'stopped', exitCode: 0 });
  assert.equal(tunnel.actor.getSnapshot().status, 'done');
  assert.equal(states[states.length - 1], 'stopped');
  // the server notices the closed control connection and frees the public port
  await clientGone;
  assert.equal(server.tunnelCount, 0);
  await assert.rejects(connect(publicPort), /ECONNREFUSED/);
});

test('a tunnel that cannot reach its server ends with the fatal result, not a hang', async () => {
  const echo = await startEchoServer();
  const closed = await startEchoServer();
  const deadPort = closed.port;
  await closed.close();
  try {
    const tunnel = bore.startTunnel({ localPort: echo.port, to: '127.0.0.1', controlPort: deadPort });
    // The TunnelError itself: its class, its code (before: a plain Error with only the message).
    await assert.rejects(tunnel.ready, (err: unknown) => {
      assert.ok(err instanceof bore.TunnelError, String(err));
      assert.equal(err.code, 'connect-refused');
      assert.equal(err.class, 'retriable');
      // What was being connected, in words (before: `connect ECONNREFUSED 127.0.0.1:PORT`).
      assert.equal(err.message, `could not connect to the server at 127.0.0.1:${deadPort}: connection refused (ECONNREFUSED)`);
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED', 'the socket error is its cause');
      return true;
    });
    const result = await tunnel.done;
    assert.equal(result.state, 'fatal');
    assert.equal(result.exitCode, bore.EXIT.gaveUp);
    assert.ok(result.error instanceof bore.TunnelError);
    assert.equal(result.error.class, 'retriable');
  } finally {
    await echo.close();
  }
});

test('a wrong secret rejects ready with the fatal TunnelError; a signal with a reason rejects with that reason', async (t) => {
  const server = new bore.BoreServer({ controlPort: 0, bindAddr: '127.0.0.1', bindTunnels: '127.0.0.1', secret: 'right' });
  const controlPort = await server.listen();
  t.after(() => server.close(0));
  const wrong = bore.startTunnel({ localPort: 1, to: '127.0.0.1', controlPort, secret: 'wrong' });
  await assert.rejects(
    wrong.ready,
    (err: unknown) => err instanceof bore.TunnelError && err.code === 'invalid-secret' && err.class === 'fatal',
  );
  assert.equal((await wrong.done).error?.code, 'invalid-secret');

  const reason = new Error('shutting down');
  const controller = new AbortController();
  const tunnel = bore.startTunnel({ localPort: 1, to: '127.0.0.1', controlPort: 1, retryFirst: true, signal: controller.signal });
  controller.abort(reason);
  await assert.rejects(tunnel.ready, (err: unknown) => err === reason);
});

test('await using: a tunnel, a set of tunnels and a server are stopped at the end of their scope', async () => {
  const echo = await startEchoServer();
  let server: bore.BoreServer;
  let tunnel: bore.Tunnel;
  let tunnels: bore.Tunnels;
  {
    await using s = new bore.BoreServer({ controlPort: 0, bindAddr: '127.0.0.1', bindTunnels: '127.0.0.1' });
    server = s;
    const controlPort = await s.listen();
    await using one = bore.startTunnel({ localPort: echo.port, localHost: '127.0.0.1', to: '127.0.0.1', controlPort, pool: 0 });
    tunnel = one;
    await using set = bore.startTunnels({
      to: '127.0.0.1',
      controlPort,
      pool: 0,
      tunnels: { a: { localPort: echo.port, localHost: '127.0.0.1' } },
    });
    tunnels = set;
    await Promise.all([one.ready, set.ready]);
    assert.equal(s.tunnelCount, 2);
  }
  assert.equal(tunnel.actor.getSnapshot().status, 'done');
  assert.equal(tunnels.actor.getSnapshot().status, 'done');
  assert.equal(server.listening, false);
  await echo.close();
});

test('examples/http-service.ts: a service exposes itself through a real bore server', async (t) => {
  const server = await startServer(['--min-port', '25200', '--max-port', '25299']);
  t.after(() => server.stop('SIGKILL'));
  const example = new BoreProcess([], { BORE_SERVER: '127.0.0.1', BORE_CONTROL_PORT: String(server.controlPort) }, [
    '--import',
    'tsx',
    fileURLToPath(new URL('../examples/http-service.ts', import.meta.url)),
  ]);
  t.after(() => example.stop('SIGKILL'));
  const port = Number((await example.waitFor(/service public at 127\.0\.0\.1:(\d+)/, 20_000))[1]);
  assert.match(
    example.output,
    new RegExp(
      `tunnel state: connecting \\(attempt 1\\)\n[\\s\\S]*tunnel state: authenticating \\(attempt 1\\)\n[\\s\\S]*tunnel state: listening \\(attempt 1 port ${port}\\)\n`,
    ),
  );

  assert.equal((await httpGet(port, '/')).body, 'hello from a service that tunnels itself\n');
  const status = JSON.parse((await httpGet(port, '/status')).body) as unknown;
  const { pooledIdle, ...rest } = status as { pooledIdle: number };
  assert.deepEqual(rest, { state: 'listening', publicPort: port, attempt: 1, lastError: null });
  assert.ok(pooledIdle >= 0 && pooledIdle <= 4, `pooledIdle ${pooledIdle}`);

  assert.equal(await example.stop('SIGTERM'), 0);
  assert.match(example.output, /tunnel state: stopped \(attempt 1 port \d+\)\n[\s\S]*stopped \(stopped\)/);
  // one line per change, none for the heartbeats in between
  assert.equal(example.output.match(/^tunnel state: /gm)?.length, 4, example.output);
  await server.waitFor(/client disconnected/);
});

test('examples type-check against the package types', { timeout: 60_000 }, async () => {
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
  const { stdout } = await run(process.execPath, [tsc, '-p', 'examples'], { cwd: ROOT }).catch(
    (err: { stdout: string; stderr: string }) => {
      throw new Error(`tsc -p examples failed:\n${err.stdout}${err.stderr}`);
    },
  );
  assert.equal(stdout.trim(), '');
});

test('importing the package loads no winston; createLogger loads it when called', { timeout: 30_000 }, async () => {
  // A process of its own: this one has loaded winston through other tests' imports.
  const script = `
    const loaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/winston/'));
    import('bore-ts').then((bore) => {
      const before = loaded();
      bore.createLogger({ format: 'json', level: 'error' });
      console.log(JSON.stringify({ before, after: loaded() }));
    });`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)) });
  assert.deepEqual(JSON.parse(stdout), { before: false, after: true });
});
