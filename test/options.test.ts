/**
 * The library's options are checked at the call (`src/options/rules.ts`): each bad value of
 * `startTunnel` and `new BoreServer` throws a TypeError or RangeError that names the
 * option and the value, before anything starts; good values pass; the CLI reports the
 * values its flags accept but the library does not as usage errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { inspect, promisify } from 'node:util';
import { BoreServer, type ServerOptions, type TunnelOptions, silentLogger, startTunnel } from 'bore-ts';
import { CLI } from './helpers/procs.js';

const run = promisify(execFile);
const base: TunnelOptions = { localPort: 3000, to: 'bore.example.com' };

type Case = [options: Record<string, unknown>, error: typeof TypeError | typeof RangeError, message: string];

const TUNNEL_CASES: Case[] = [
  [{ localPort: 70000 }, RangeError, 'localPort must be 1-65535, got 70000'],
  [{ localPort: 0 }, RangeError, 'localPort must be 1-65535, got 0'],
  [{ localPort: 3000.5 }, RangeError, 'localPort must be a whole number 1-65535, got 3000.5'],
  [{ localPort: '3000' }, TypeError, "localPort must be a number, got '3000'"],
  [{ localPort: undefined }, TypeError, 'localPort is required'],
  [{ to: '' }, RangeError, "to must be a host name or address, got ''"],
  [{ to: 7835 }, TypeError, 'to must be a string, got 7835'],
  [{ to: undefined }, TypeError, 'to is required'],
  [{ localHost: '' }, RangeError, "localHost must be a host name or address, got ''"],
  [{ port: -1 }, RangeError, 'port must be 0-65535, got -1'],
  [{ port: NaN }, RangeError, 'port must be a whole number 0-65535, got NaN'],
  [{ secret: 1234 }, TypeError, 'secret must be a string, got a value of type number'],
  [{ controlPort: 0 }, RangeError, 'controlPort must be 1-65535, got 0'],
  [{ heartbeatTimeoutMs: -5 }, RangeError, 'heartbeatTimeoutMs must be above 0 and at most 2147483647 ms, got -5'],
  [{ heartbeatTimeoutMs: 0 }, RangeError, 'heartbeatTimeoutMs must be above 0 and at most 2147483647 ms, got 0'],
  [{ heartbeatTimeoutMs: 1e10 }, RangeError, 'heartbeatTimeoutMs must be above 0 and at most 2147483647 ms, got 10000000000'],
  [{ maxReconnectDelayMs: Infinity }, RangeError, 'maxReconnectDelayMs must be above 0 and at most 2147483647 ms, got Infinity'],
  [{ reconnect: 'no' }, TypeError, "reconnect must be true or false, got 'no'"],
  [{ retryFirst: 1 }, TypeError, 'retryFirst must be true or false, got 1'],
  [{ stableAfterMs: -1 }, RangeError, 'stableAfterMs must be from 0 to 2147483647 ms, got -1'],
  [{ drainTimeoutMs: '2' }, TypeError, "drainTimeoutMs must be a number, got '2'"],
  [{ heartbeatTimeout: 8 }, TypeError, 'unknown option heartbeatTimeout (did you mean heartbeatTimeoutMs? durations are in milliseconds)'],
  [{ logger: console.log }, TypeError, 'logger must be a logger (error, warn, info and debug methods), got [Function: log]'],
  [{ logRateLimit: 10 }, TypeError, 'logRateLimit must be an object, got 10'],
  [{ logRateLimit: { burst: 0 } }, RangeError, 'logRateLimit.burst must be a whole number of at least 1, got 0'],
  [
    { logRateLimit: { window: 5 } },
    TypeError,
    'unknown option logRateLimit.window (did you mean logRateLimit.windowMs? durations are in milliseconds)',
  ],
  [{ logRateLimit: { windows: 5 } }, TypeError, 'unknown option logRateLimit.windows (known: burst, windowMs, maxKeys, schedule)'],
  [{ signal: {} }, TypeError, 'signal must be an AbortSignal, got {}'],
  [{ inspect: 'yes' }, TypeError, "inspect must be a function or an object, got 'yes'"],
  [{ locaPort: 3000 }, TypeError, 'unknown option locaPort (known: localPort, to, localHost, port, secret, secretFile, controlPort,'],
  [{ secretFile: 7 }, TypeError, 'secretFile must be a string, got 7'],
  [{ secretFile: '' }, RangeError, "secretFile must be a path, got ''"],
  [{ secretFile: '/nonexistent/bore-secret' }, RangeError, "secretFile: cannot read '/nonexistent/bore-secret' (ENOENT)"],
  [{ secret: 'x', secretFile: '/etc/hostname' }, RangeError, 'secret and secretFile given together: use one of them'],
];

const SERVER_CASES: Case[] = [
  [{ minPort: 0 }, RangeError, 'minPort must be 1-65535, got 0'],
  [{ maxPort: 70000 }, RangeError, 'maxPort must be 1-65535, got 70000'],
  [{ minPort: 30000, maxPort: 20000 }, RangeError, 'empty port range: minPort 30000 is above maxPort 20000'],
  [{ secret: null }, TypeError, 'secret must be a string, got a value of type object'],
  [{ secret: [] }, RangeError, 'secret must hold at least one secret, got an empty list'],
  [{ secret: ['current', 42] }, TypeError, 'secret[1] must be a string, got a value of type number'],
  [{ secret: ['current', ''] }, RangeError, "secret[1] must be a non-empty string, got ''"],
  [{ controlPort: -1 }, RangeError, 'controlPort must be 0-65535, got -1'],
  [{ controlPort: '7835' }, TypeError, "controlPort must be a number, got '7835'"],
  [{ bindAddr: '' }, RangeError, "bindAddr must be a host name or address, got ''"],
  [{ bindTunnels: 0 }, TypeError, 'bindTunnels must be a string, got 0'],
  [{ clientTimeoutMs: 10 }, RangeError, 'clientTimeoutMs must be from 2000 to 2147483647 ms, got 10'],
  [{ maxPendingPerTunnel: 0 }, RangeError, 'maxPendingPerTunnel must be a whole number of at least 1, got 0'],
  [{ acceptTimeoutMs: -1 }, RangeError, 'acceptTimeoutMs must be above 0 and at most 2147483647 ms, got -1'],
  [{ handshakeTimeoutMs: 2 ** 31 }, RangeError, 'handshakeTimeoutMs must be above 0 and at most 2147483647 ms, got 2147483648'],
  [{ maxTunnelsPerAddr: -1 }, RangeError, 'maxTunnelsPerAddr must be a whole number of at least 0, got -1'],
  [{ maxAuthFailures: 2.5 }, RangeError, 'maxAuthFailures must be a whole number of at least 0, got 2.5'],
  [{ authFailureWindowMs: 0 }, RangeError, 'authFailureWindowMs must be above 0 and at most 2147483647 ms, got 0'],
  [{ logger: {} }, TypeError, 'logger must be a logger (error, warn, info and debug methods), got {}'],
  [{ logRateLimit: { schedule: 5 } }, TypeError, 'logRateLimit.schedule must be a function, got 5'],
  [{ port: 7835 }, TypeError, 'unknown option port (known: minPort, maxPort, secret, controlPort,'],
];

const expected = (error: Case[1], message: string) => (err: unknown) => {
  assert.ok(err instanceof error, `${String(err)} is a ${error.name}`);
  assert.ok(err.message.startsWith(message), `message ${JSON.stringify(err.message)} starts with ${JSON.stringify(message)}`);
  assert.equal((err as { code?: string }).code, 'ERR_BORE_INVALID_OPTION');
  return true;
};

for (const [options, error, message] of TUNNEL_CASES) {
  test(`startTunnel(${inspect(options)}): ${error.name}: ${message}`, () => {
    assert.throws(() => startTunnel({ ...base, ...options }), expected(error, message));
  });
}

for (const [options, error, message] of SERVER_CASES) {
  test(`new BoreServer(${inspect(options)}): ${error.name}: ${message}`, () => {
    assert.throws(() => new BoreServer(options), expected(error, message));
  });
}

test('options that are not an object are refused', () => {
  assert.throws(
    () => startTunnel(undefined as unknown as TunnelOptions),
    expected(TypeError, 'the options of startTunnel must be an object'),
  );
  assert.throws(() => new BoreServer(null as unknown as ServerOptions), expected(TypeError, 'the options of BoreServer must be an object'));
});

test('a secret of the wrong type is never shown', () => {
  assert.throws(
    () => startTunnel({ ...base, secret: ['hunter2'] as unknown as string }),
    (err: Error) => !err.message.includes('hunter2'),
  );
});

test('valid options, undefined ones and the edges of each range are accepted', async () => {
  const good: TunnelOptions = {
    ...base,
    localPort: 65535,
    localHost: '127.0.0.1',
    port: 0,
    secret: '',
    controlPort: 1,
    heartbeatTimeoutMs: 1,
    maxReconnectDelayMs: 2147483647,
    reconnect: false,
    retryFirst: true,
    stableAfterMs: 0,
    drainTimeoutMs: 0,
    logger: silentLogger,
    logRateLimit: { burst: 1, windowMs: 1, maxKeys: 1, schedule: () => () => {} },
    inspect: () => {},
  };
  const tunnel = startTunnel({ ...good, port: undefined, secret: undefined });
  assert.equal((await tunnel.stop()).state, 'stopped');

  const server = new BoreServer({
    minPort: 1,
    maxPort: 1,
    controlPort: 0,
    bindAddr: '127.0.0.1',
    bindTunnels: 'localhost',
    secret: 's',
    clientTimeoutMs: 2000,
    maxPendingPerTunnel: 1,
    acceptTimeoutMs: 2147483647,
    handshakeTimeoutMs: 0.5,
    maxTunnelsPerAddr: 0,
    maxAuthFailures: 0,
    authFailureWindowMs: 1,
    logger: silentLogger,
    logRateLimit: {},
  });
  assert.equal(server.tunnelCount, 0);
});

test('the CLI turns a value its flags accept but the library refuses into a usage error', async () => {
  const err = await run(process.execPath, [CLI, 'local', '3000', '--to', '127.0.0.1', '--local-host', '']).then(
    () => assert.fail('bore local with an empty --local-host succeeded'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(err.code, 2);
  assert.match(err.stderr, /^error: --local-host must be a host name or address, got ''\n\nRun `bore --help`/);
});
