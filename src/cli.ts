#!/usr/bin/env node
/**
 * The `bore` command line: `bore local` and `bore server`, a thin layer over the
 * library API. Usage errors exit with status 2 and say how to fix the call.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { createRequire } from 'node:module';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** Exit code for a usage error. */
const USAGE_EXIT = 2;

class UsageError extends Error {}

/** An option's value: the flag if given, else its environment variable, else the default. */
function fromEnv(value: unknown, env: string): string | undefined {
  if (value !== undefined) return String(value);
  const v = process.env[env];
  return v === undefined || v === '' ? undefined : v;
}

function portArg(value: unknown, env: string, name: string, fallback: number, min = 0): number {
  const text = fromEnv(value, env);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > 65535) {
    throw new UsageError(`invalid value for ${name}: '${text}' (expected a port number, ${min}-65535)`);
  }
  return n;
}

function secondsArg(value: unknown, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n < min) {
    throw new UsageError(`invalid value for ${name}: '${String(value)}' (expected a number of seconds${min > 0 ? ` of at least ${min}` : ' above 0'})`);
  }
  return n;
}

function countArg(value: unknown, name: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`invalid value for ${name}: '${String(value)}' (expected a whole number of at least ${min})`);
  return n;
}

function logOptions<T>(y: Argv<T>) {
  return y
    .option('log-level', {
      describe: 'Least severe log level to print [env: BORE_LOG_LEVEL]',
      choices: ['error', 'warn', 'info', 'debug'] as const,
      defaultDescription: 'info',
    })
    .option('log-format', {
      describe: 'Log line format [env: BORE_LOG_FORMAT]',
      choices: ['human', 'json'] as const,
      defaultDescription: 'human',
    });
}

async function makeLogger(argv: { logLevel?: string; logFormat?: string }) {
  const { createLogger, LOG_LEVELS, LOG_FORMATS } = await import('./log.js');
  const level = fromEnv(argv.logLevel, 'BORE_LOG_LEVEL') ?? 'info';
  const format = fromEnv(argv.logFormat, 'BORE_LOG_FORMAT') ?? 'human';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`invalid BORE_LOG_LEVEL '${level}' (one of ${LOG_LEVELS.join(', ')})`);
  if (!(LOG_FORMATS as readonly string[]).includes(format)) throw new UsageError(`invalid BORE_LOG_FORMAT '${format}' (one of ${LOG_FORMATS.join(', ')})`);
  return createLogger({ level: level as never, format: format as never });
}

/**
 * Routes SIGINT/SIGTERM to `stop` (replaceable as start-up proceeds), installed first
 * thing so a signal that arrives during start-up is never lost.
 */
function onStopSignal(stop: (signal: string) => void): { set(fn: (signal: string) => void): void } {
  let current = stop;
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) {
      // A second signal: the user does not want to wait for the drain.
      process.stderr.write(`received ${signal} again, exiting without waiting for open connections\n`);
      exit(0);
      return;
    }
    stopping = true;
    current(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return { set: (fn) => (current = fn) };
}

/** Exits once the logger has flushed. */
function exit(code: number): never {
  process.exitCode = code;
  setImmediate(() => process.exit(code));
  return undefined as never;
}

async function runLocal(argv: Record<string, unknown>): Promise<void> {
  const signals = onStopSignal(() => exit(0));
  const localPort = portArg(argv.localPort, 'BORE_LOCAL_PORT', '<LOCAL_PORT>', -1, 1);
  if (localPort < 0) throw new UsageError('missing <LOCAL_PORT>: the port of the local service, e.g. `bore local 3000 --to bore.example.com`');
  const to = fromEnv(argv.to, 'BORE_SERVER');
  if (!to) throw new UsageError('missing --to <TO>: the address of the bore server, e.g. `--to bore.example.com` (or set BORE_SERVER)');
  const options = {
    localPort,
    to,
    localHost: (argv.localHost as string | undefined) ?? 'localhost',
    port: portArg(argv.port, 'BORE_PORT', '--port', 0),
    secret: fromEnv(argv.secret, 'BORE_SECRET'),
    controlPort: portArg(argv.controlPort, 'BORE_CONTROL_PORT', '--control-port', 7835, 1),
    heartbeatTimeout: secondsArg(argv.heartbeatTimeout, '--heartbeat-timeout', 8),
    maxReconnectDelay: secondsArg(argv.maxReconnectDelay, '--max-reconnect-delay', 64),
    drainTimeout: secondsArg(argv.drainTimeout, '--drain-timeout', 2),
    reconnect: argv.reconnect as boolean,
    retryFirst: argv.retryFirst as boolean,
  };
  const inspectPort = argv.inspect === undefined ? undefined : portArg(argv.inspect === '' ? '0' : argv.inspect, '', '--inspect', 0);
  const logger = await makeLogger(argv);
  const { startTunnel } = await import('./client/tunnel.js');
  const { clientMachine } = await import('../machines/client.js');
  const inspector =
    inspectPort === undefined
      ? undefined
      : await (await import('./inspector/server.js')).startInspector({ machine: clientMachine, port: inspectPort, logger }).catch((err: Error) => {
          throw new UsageError(err.message);
        });
  const tunnel = startTunnel({ ...options, logger, inspect: inspector?.inspect });
  signals.set((signal) => {
    logger.info(`received ${signal}, stopping`);
    void tunnel.stop();
  });
  const result = await tunnel.done;
  await inspector?.close();
  exit(result.exitCode);
}

async function runServer(argv: Record<string, unknown>): Promise<void> {
  const minPort = portArg(argv.minPort, 'BORE_MIN_PORT', '--min-port', 1024, 1);
  const maxPort = portArg(argv.maxPort, 'BORE_MAX_PORT', '--max-port', 65535, 1);
  if (minPort > maxPort) throw new UsageError(`empty port range: --min-port ${minPort} is greater than --max-port ${maxPort}`);
  const drainMs = secondsArg(argv.drainTimeout, '--drain-timeout', 5) * 1000;
  const signals = onStopSignal(() => exit(0));
  const logger = await makeLogger(argv);
  const { BoreServer } = await import('./server/server.js');
  const server = new BoreServer({
    minPort,
    maxPort,
    secret: fromEnv(argv.secret, 'BORE_SECRET'),
    controlPort: portArg(argv.controlPort, 'BORE_CONTROL_PORT', '--control-port', 7835),
    bindAddr: (argv.bindAddr as string | undefined) ?? '0.0.0.0',
    bindTunnels: (argv.bindTunnels as string | undefined) ?? '0.0.0.0',
    clientTimeoutMs: secondsArg(argv.clientTimeout, '--client-timeout', 15, 2) * 1000,
    maxPendingPerTunnel: countArg(argv.maxPending, '--max-pending', 1024),
    maxTunnelsPerAddr: countArg(argv.maxTunnelsPerAddr, '--max-tunnels-per-addr', 16, 0),
    maxAuthFailures: countArg(argv.maxAuthFailures, '--max-auth-failures', 10, 0),
    authFailureWindowMs: secondsArg(argv.authFailureWindow, '--auth-failure-window', 60) * 1000,
    logger,
  });
  signals.set((signal) => {
    logger.info(`received ${signal}, shutting down`);
    void server.close(drainMs).then(() => exit(0));
  });
  try {
    await server.listen();
  } catch (err) {
    logger.error(`could not listen: ${(err as Error).message}`);
    exit(1);
  }
}

const LOCAL_DESCRIBE = 'Expose a local port through a bore server';
const SERVER_DESCRIBE = 'Run a bore server that clients can expose ports through';
const LOCAL_USAGE = '$0 <LOCAL_PORT> --to <TO> [options]\n\nExpose the local port LOCAL_PORT [env: BORE_LOCAL_PORT] through the bore server TO.';
const SERVER_USAGE = `$0\n\n${SERVER_DESCRIBE}`;

function localOptions<T>(y: Argv<T>) {
  return logOptions(
    y
      .positional('local-port', { describe: 'Port of the local service to expose [env: BORE_LOCAL_PORT]', type: 'string' })
      .option('to', { alias: 't', type: 'string', describe: 'Address of the bore server [env: BORE_SERVER] (required)', requiresArg: true })
      .option('port', { alias: 'p', type: 'string', describe: 'Public port to ask for; 0 asks for any [env: BORE_PORT]', defaultDescription: '0' })
      .option('local-host', { alias: 'l', type: 'string', describe: 'Host of the local service', defaultDescription: 'localhost', requiresArg: true })
      .option('secret', { alias: 's', type: 'string', describe: 'Secret shared with the server [env: BORE_SECRET]', requiresArg: true })
      .option('control-port', { type: 'string', describe: "Server's control port [env: BORE_CONTROL_PORT]", defaultDescription: '7835' })
      .option('heartbeat-timeout', { type: 'number', describe: 'Seconds without a message from the server before the connection counts as lost', defaultDescription: '8' })
      .option('max-reconnect-delay', { type: 'number', describe: 'Longest wait between reconnect attempts, seconds', defaultDescription: '64' })
      .option('reconnect', { type: 'boolean', default: true, describe: 'Reconnect after a loss; --no-reconnect exits with status 4 instead' })
      .option('retry-first', { type: 'boolean', default: false, describe: 'Keep retrying when the very first attempt fails (for services started at boot)' })
      .option('drain-timeout', { type: 'number', describe: 'On SIGINT/SIGTERM, seconds to let open connections finish (a second signal skips the wait)', defaultDescription: '2' })
      .option('inspect', { type: 'string', describe: 'Serve a live view of the client state machine on http://127.0.0.1:PORT/ (--inspect or --inspect=PORT; random port by default)' })
      .epilogue(
        'Exit status: 0 stopped by SIGINT/SIGTERM; 2 usage error; 3 fatal error, not retried (invalid secret, port not allowed, ...); 4 connection lost or server unreachable and not retrying.',
      ),
  );
}

function serverOptions<T>(y: Argv<T>) {
  return logOptions(
    y
      .option('min-port', { type: 'string', describe: 'Lowest public port clients may get [env: BORE_MIN_PORT]', defaultDescription: '1024' })
      .option('max-port', { type: 'string', describe: 'Highest public port clients may get [env: BORE_MAX_PORT]', defaultDescription: '65535' })
      .option('secret', { alias: 's', type: 'string', describe: 'Secret clients must know [env: BORE_SECRET]', requiresArg: true })
      .option('control-port', { type: 'string', describe: 'Port of the control listener [env: BORE_CONTROL_PORT]', defaultDescription: '7835' })
      .option('bind-addr', { type: 'string', describe: 'Address of the control listener', defaultDescription: '0.0.0.0', requiresArg: true })
      .option('bind-tunnels', { type: 'string', describe: 'Address of the public listeners', defaultDescription: '0.0.0.0', requiresArg: true })
      .option('client-timeout', { type: 'number', describe: 'Seconds within which a silently dead client is dropped and its port freed (Linux TCP_USER_TIMEOUT; elsewhere the kernel retransmission limit); at least 2', defaultDescription: '15' })
      .option('max-pending', { type: 'number', describe: 'Unclaimed public connections kept per tunnel; past it the oldest is dropped', defaultDescription: '1024' })
      .option('max-tunnels-per-addr', { type: 'number', describe: 'Tunnels one client address may hold at once; past it Hello is refused (0: no limit)', defaultDescription: '16' })
      .option('max-auth-failures', {
        type: 'number',
        describe: 'Failed handshakes (wrong or missing secret, garbage, timeout) from one address within --auth-failure-window after which its connections are closed unanswered for as long (0: never)',
        defaultDescription: '10',
      })
      .option('auth-failure-window', { type: 'number', describe: 'Seconds in which failed handshakes are counted, and length of the cool-down', defaultDescription: '60' })
      .option('drain-timeout', { type: 'number', describe: 'On SIGINT/SIGTERM, seconds to let open connections finish (a second signal skips the wait)', defaultDescription: '5' }),
  );
}

/** What every parser shares: strict flags, --help/--version, usage errors thrown as {@link UsageError}. */
function common<T>(y: Argv<T>) {
  return y
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .strict()
    .version(version)
    .help()
    .alias('h', 'help')
    .alias('V', 'version')
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      // yargs reports its own validation failures (e.g. a flag without its value) as a
      // YError: those are usage errors too. Anything else came from a command's handler.
      if (err && err.name !== 'YError') throw err;
      throw new UsageError(msg ?? err?.message ?? 'invalid arguments');
    });
}

/**
 * Builds the parser; exported for tests of the usage text.
 *
 * `bore local ...` and `bore server ...` get a parser of their own in which the command
 * is the default one: yargs renders and caches a command's whole help text right after
 * starting its handler (not for a default command), and that rendering (string widths of
 * every word) made V8 optimize it, which kept about 4 MB more resident for the life of a
 * tunnel or server (see bench/README.md).
 */
export function buildCli(args: string[]) {
  const [command, ...rest] = args;
  if (command === 'local') {
    return common(yargs(rest).scriptName('bore local').usage(LOCAL_USAGE)).command('$0 [local-port]', false, localOptions, (argv) =>
      runLocal(argv as Record<string, unknown>),
    );
  }
  if (command === 'server') {
    return common(yargs(rest).scriptName('bore server').usage(SERVER_USAGE)).command('$0', false, serverOptions, (argv) => runServer(argv as Record<string, unknown>));
  }
  return common(
    yargs(args)
      .scriptName('bore')
      .usage('$0 <command> [options]\n\nA TCP tunnel that exposes a local port through a remote server (wire-compatible with the Rust bore).')
      .command('local [local-port]', LOCAL_DESCRIBE)
      .command('server', SERVER_DESCRIBE)
      .demandCommand(1, 'missing command: use `bore local` or `bore server` (see `bore --help`)'),
  );
}

async function main(): Promise<void> {
  await buildCli(hideBin(process.argv)).parseAsync();
}

await main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    console.error(`error: ${err.message}\n\nRun \`bore --help\` or \`bore <command> --help\` for usage.`);
    exit(USAGE_EXIT);
  } else {
    console.error(`error: ${(err as Error)?.stack ?? String(err)}`);
    exit(1);
  }
});
