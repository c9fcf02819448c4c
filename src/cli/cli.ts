#!/usr/bin/env node
/**
 * The `bore` command line: `bore local` and `bore server`, a thin layer over the
 * library API. Usage errors exit with status 2 and say how to fix the call.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { createRequire } from 'node:module';
import net from 'node:net';
// Plain values only (the help never loads the client, the server or the logger).
import { DEFAULT_LOG_FORMAT, DEFAULT_LOG_LEVEL, LOG_FORMATS, LOG_LEVELS, isLogFormat, isLogLevel } from '../log/levels.js';
import { TUNNEL_DEFAULTS } from '../client/defaults.js';
import { MAX_POOL_SIZE } from '../protocol/constants.js';
import { didYouMean } from './suggest.js';
import { SecretFileError, readSecrets } from '../system/secret-file.js';
import { catchHangups, ignoreHangups, onHangup } from './hangup.js';
import { parseMetricsHosts } from '../server/metrics-guard.js';
import {
  AUTH_FAILURE_WINDOW_MS,
  CLIENT_TIMEOUT_MS,
  DEFAULT_BIND_ADDR,
  DEFAULT_CONTROL_PORT,
  DEFAULT_MAX_PORT,
  DEFAULT_MIN_PORT,
  DRAIN_TIMEOUT_MS,
  IPV6_PREFIX_LENGTH,
  MAX_AUTH_FAILURES,
  MAX_PENDING_PER_TUNNEL,
  MAX_POOL_PER_TUNNEL,
  MAX_TUNNELS_PER_ADDR,
  MIN_CLIENT_TIMEOUT_MS,
} from '../server/defaults.js';

/** The package's version: two levels up from the bundle and the sources, three from tsc's `dist/src/cli/`. */
const { version } = ((require): { version: string } => {
  try {
    return require('../../package.json') as { version: string };
  } catch {
    return require('../../../package.json') as { version: string };
  }
})(createRequire(import.meta.url));

/** Exit code for a usage error. */
const USAGE_EXIT = 2;

class UsageError extends Error {}

/**
 * Runs `start` (a library call given options the flags were checked into), turning the
 * library's own option errors (`OPTION_ERROR` of `options.ts`, not imported: `--help`
 * loads nothing it does not need) into usage errors: the few values the flags accept
 * but the library does not, such as an empty `--local-host`.
 */
function asUsage<T>(start: () => T): T {
  try {
    return start();
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_BORE_INVALID_OPTION') throw new UsageError((err as Error).message);
    throw err;
  }
}

/** A flag's value as the user typed it (yargs hands over strings, numbers or booleans). */
function shown(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return `${value}`;
  return JSON.stringify(value) ?? 'undefined';
}

/** An option's value: the flag if given, else its environment variable, else the default. */
function fromEnv(value: unknown, env: string): string | undefined {
  return given(value, env, '')?.text;
}

/** An option's value as text and the name to report it under: the flag if given, else its environment variable. */
function given(value: unknown, env: string, flag: string): { text: string; name: string } | undefined {
  if (value !== undefined) return { text: shown(value), name: flag };
  const v = env === '' ? undefined : process.env[env];
  return v === undefined || v === '' ? undefined : { text: v, name: env };
}

/**
 * The secret: `--secret` or `--secret-file` (not both), else `BORE_SECRET` or
 * `BORE_SECRET_FILE` (not both): the text, or the path of a file (one secret per line,
 * the first the current one) that is checked now. An unreadable or empty file is a
 * usage error that names the path, never the content.
 */
function secretArg(argv: Record<string, unknown>): { secret?: string; file?: string } {
  const flag = given(argv.secret, '', '--secret');
  const flagFile = given(argv.secretFile, '', '--secret-file');
  if (flag && flagFile) throw new UsageError('--secret and --secret-file given together: use one of them');
  if (flag) return { secret: flag.text };
  if (flagFile) return { file: checkSecretFile(flagFile) };
  const env = given(undefined, 'BORE_SECRET', 'BORE_SECRET');
  const envFile = given(undefined, 'BORE_SECRET_FILE', 'BORE_SECRET_FILE');
  if (env && envFile) throw new UsageError('BORE_SECRET and BORE_SECRET_FILE both set: use one of them');
  if (env) return { secret: env.text };
  return envFile ? { file: checkSecretFile(envFile) } : {};
}

/** The path `arg` names, once its file has been read and holds a secret. */
function checkSecretFile(arg: { text: string; name: string }): string {
  try {
    readSecrets(arg.text);
  } catch (err) {
    if (err instanceof SecretFileError) throw new UsageError(`invalid value for ${arg.name}: ${err.message}`);
    throw err;
  }
  return arg.text;
}

/** Gives `server` the secrets of `file` again, or keeps its own if the file gives none; says which. */
function reloadSecrets(
  server: { setSecret(secrets: string[]): void },
  file: string,
  logger: { info(m: string): unknown; error(m: string, meta?: object): unknown },
): void {
  try {
    const secrets = readSecrets(file);
    server.setSecret(secrets);
    logger.info(`secrets reloaded from ${file}: ${secrets.length} secret${secrets.length === 1 ? '' : 's'}`);
  } catch (err) {
    if (!(err instanceof SecretFileError)) throw err;
    logger.error(`SIGHUP: secret file ${err.message}; the server keeps the secrets it had`, { file });
  }
}

/** Whether `host` is a loopback address (127.0.0.0/8, ::1, IPv4-mapped 127.x, or the name localhost). */
function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost') return true;
  const family = net.isIP(h);
  if (family === 0) return false;
  const loopback = new net.BlockList();
  loopback.addSubnet('127.0.0.0', 8, 'ipv4');
  loopback.addAddress('::1', 'ipv6');
  return loopback.check(h, family === 4 ? 'ipv4' : 'ipv6');
}

function portArg(value: unknown, env: string, name: string, fallback: number, min = 0): number {
  const arg = given(value, env, name);
  if (arg === undefined) return fallback;
  const n = Number(arg.text);
  if (arg.text.trim() === '' || !Number.isInteger(n) || n < min || n > 65535) {
    throw new UsageError(`invalid value for ${arg.name}: '${arg.text}' (expected a port number, ${min}-65535)`);
  }
  return n;
}

function secondsArg(value: unknown, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (shown(value).trim() === '' || !Number.isFinite(n) || n <= 0 || n < min) {
    throw new UsageError(
      `invalid value for ${name}: '${shown(value)}' (expected a number of seconds${min > 0 ? ` of at least ${min}` : ' above 0'})`,
    );
  }
  return n;
}

function countArg(value: unknown, name: string, fallback: number, min = 1, max = Infinity, env = ''): number {
  const arg = given(value, env, name);
  if (arg === undefined) return fallback;
  const n = Number(arg.text);
  if (arg.text.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    const expected = max === Infinity ? `a whole number of at least ${min}` : `a whole number, ${min}-${max}`;
    throw new UsageError(`invalid value for ${arg.name}: '${arg.text}' (expected ${expected})`);
  }
  return n;
}

/** `--metrics <addr:port>` (or BORE_METRICS) and `--metrics-host` (BORE_METRICS_HOST): the metrics listener, if asked for. */
function metricsArg(value: unknown, hosts: unknown): { host: string; port: number; allowedHosts: string[] } | undefined {
  const arg = given(value, 'BORE_METRICS', '--metrics');
  if (arg === undefined) return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(arg.text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new UsageError(
      `invalid value for ${arg.name}: '${arg.text}' (expected <addr:port>, e.g. 127.0.0.1:9100 or [::1]:9100; port 0 picks a free one)`,
    );
  }
  const names = given(hosts, 'BORE_METRICS_HOST', '--metrics-host');
  try {
    return { host: m[1] ?? m[2] ?? '', port, allowedHosts: names ? parseMetricsHosts(names.text) : [] };
  } catch (err) {
    throw new UsageError(`invalid value for ${names?.name}: '${names?.text}' (${(err as Error).message})`);
  }
}

function logOptions<T>(y: Argv<T>) {
  return y
    .option('log-level', {
      describe: 'Least severe log level to print [env: BORE_LOG_LEVEL]',
      choices: LOG_LEVELS,
      defaultDescription: DEFAULT_LOG_LEVEL,
    })
    .option('log-format', {
      describe: 'Log line format [env: BORE_LOG_FORMAT]',
      choices: LOG_FORMATS,
      defaultDescription: DEFAULT_LOG_FORMAT,
    });
}

/**
 * The log format once a command has read it (first thing its handler does): from then
 * on, the errors `main` prints itself (usage errors found in the values, crashes) follow
 * it too. Before that (yargs's own parse errors) they are plain text.
 */
let chosenFormat: string = DEFAULT_LOG_FORMAT;

/** Reads and checks the log format and level (a command handler's first step). */
function logSettings(argv: { logLevel?: unknown; logFormat?: unknown }) {
  const level = fromEnv(argv.logLevel, 'BORE_LOG_LEVEL') ?? DEFAULT_LOG_LEVEL;
  const format = fromEnv(argv.logFormat, 'BORE_LOG_FORMAT') ?? DEFAULT_LOG_FORMAT;
  if (!isLogFormat(format)) throw new UsageError(`invalid BORE_LOG_FORMAT '${format}' (one of ${LOG_FORMATS.join(', ')})`);
  chosenFormat = format;
  if (!isLogLevel(level)) throw new UsageError(`invalid BORE_LOG_LEVEL '${level}' (one of ${LOG_LEVELS.join(', ')})`);
  return { level, format };
}

async function makeLogger(settings: ReturnType<typeof logSettings>) {
  const { createLogger } = await import('../log/logger.js');
  return createLogger(settings);
}

/** Writes a line of `main`'s own to stderr: plain, or a JSON object once `--log-format json` is known. */
function printError(message: string, fields: Record<string, unknown> = {}): void {
  if (chosenFormat === 'json') {
    process.stderr.write(`${JSON.stringify({ level: 'error', message, ...fields, time: new Date().toISOString() })}\n`);
  } else {
    process.stderr.write(`error: ${message}\n`);
  }
}

/**
 * Routes SIGINT/SIGTERM to `stop` (replaceable as start-up proceeds), installed first
 * thing so a signal that arrives during start-up is never lost; SIGHUP is caught from
 * here on too (`hangup.ts`; `bin.ts` caught it before the CLI loaded).
 */
function onStopSignal(stop: (signal: string) => void): {
  set(fn: (signal: string) => void): void;
  setLogger(logger: { warn(message: string, meta?: Record<string, unknown>): unknown }): void;
} {
  catchHangups();
  let current = stop;
  let log = (message: string) => void process.stderr.write(`${message}\n`);
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) {
      // A second signal: the user does not want to wait for the drain.
      log(`received ${signal} again, exiting without waiting for open connections`);
      exit(0);
      return;
    }
    stopping = true;
    current(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    set: (fn) => (current = fn),
    setLogger: (logger) => (log = (message) => void logger.warn(message, { signal: 'again' })),
  };
}

/** Exits once the logger has flushed. */
function exit(code: number): never {
  process.exitCode = code;
  setImmediate(() => process.exit(code));
  return undefined as never;
}

/** `argv` with each flag given more than once reduced to its last value (the positional mappings excepted). */
function lastOfEachFlag(argv: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(argv).map(([key, value]) => [
      key,
      Array.isArray(value) && key !== 'localPort' && key !== 'local-port' && key !== '_' ? value.at(-1) : value,
    ]),
  );
}

/** `--inspect` or `--inspect=PORT`: the inspector's port (0: any), if asked for. */
function inspectArg(value: unknown): number | undefined {
  return value === undefined ? undefined : portArg(value === '' ? '0' : value, '', '--inspect', 0);
}

/** One `LOCAL_PORT[:REMOTE_PORT]` of `bore local`; its text names the tunnel in logs. */
interface Mapping {
  name: string;
  localPort: number;
  remotePort: number | undefined;
}

/**
 * The mappings of `bore local` (`3000 8080:18080`), or the one of BORE_LOCAL_PORT.
 * Something that is no port at all is an unexpected argument, as before mappings.
 */
function mappingsArg(value: unknown): Mapping[] {
  const items = (Array.isArray(value) ? value : value === undefined ? [] : [value]).map(shown);
  if (items.length === 0) {
    const port = portArg(undefined, 'BORE_LOCAL_PORT', '<LOCAL_PORT>', -1, 1);
    return port < 0 ? [] : [{ name: String(port), localPort: port, remotePort: undefined }];
  }
  const seen = new Map<string, string>();
  return items.map((item) => {
    if (!/^[\d:]+$/.test(item)) throw new UsageError(`unexpected argument '${item}'`);
    const m = /^(\d{1,5})(?::(\d{1,5}))?$/.exec(item);
    const localPort = Number(m?.[1]);
    const remotePort = m?.[2] === undefined ? undefined : Number(m[2]);
    if (!m || localPort < 1 || localPort > 65535 || (remotePort !== undefined && remotePort > 65535)) {
      throw new UsageError(
        `invalid mapping '${item}' (expected LOCAL_PORT or LOCAL_PORT:REMOTE_PORT, ports 1-65535 and 0-65535, e.g. 3000 or 8080:18080)`,
      );
    }
    if (seen.has(item)) throw new UsageError(`mapping '${item}' given twice`);
    if (remotePort) {
      const other = [...seen.entries()].find(([, remote]) => remote === String(remotePort));
      if (other) throw new UsageError(`mappings '${other[0]}' and '${item}' ask for the same remote port ${remotePort}`);
    }
    seen.set(item, String(remotePort ?? ''));
    return { name: item, localPort, remotePort };
  });
}

async function runLocal(argv: Record<string, unknown>): Promise<void> {
  const signals = onStopSignal(() => exit(0));
  const settings = logSettings(argv);
  const mappings = mappingsArg(argv.localPort);
  if (mappings.length === 0)
    throw new UsageError('missing <LOCAL_PORT>: the port of the local service, e.g. `bore local 3000 --to bore.example.com`');
  const to = given(argv.to, 'BORE_SERVER', '--to');
  if (!to) throw new UsageError('missing --to <TO>: the address of the bore server, e.g. `--to bore.example.com` (or set BORE_SERVER)');
  // host:port (one colon, or a bracketed IPv6 address): the port goes in --control-port.
  const withPort = /^(\[[^\]]*\]|[^:]*):(\d+)$/.exec(to.text);
  if (withPort) {
    const [, host, port] = withPort;
    const fix = to.name === '--to' ? `use \`--to ${host} --control-port ${port}\`` : `set ${to.name}=${host} and BORE_CONTROL_PORT=${port}`;
    throw new UsageError(`invalid value for ${to.name}: '${to.text}' (the server's host without a port: ${fix})`);
  }
  const portFlag = given(argv.port, 'BORE_PORT', '--port');
  let port = portArg(argv.port, 'BORE_PORT', '--port', TUNNEL_DEFAULTS.port);
  if (mappings.length > 1 && portFlag) {
    throw new UsageError(
      `${portFlag.name} is the public port of a single LOCAL_PORT; with several, give each its own as LOCAL_PORT:REMOTE_PORT (e.g. \`bore local 3000 8080:18080\`)`,
    );
  }
  const single = mappings.length === 1 ? mappings[0]! : undefined;
  if (single?.remotePort !== undefined) {
    if (portFlag && port !== single.remotePort)
      throw new UsageError(`${portFlag.name} ${port} and the mapping '${single.name}' ask for different public ports: give one of them`);
    port = single.remotePort;
  }
  const secretSource = secretArg(argv);
  const options = {
    localPort: mappings[0]!.localPort,
    to: to.text,
    localHost: (argv.localHost as string | undefined) ?? TUNNEL_DEFAULTS.localHost,
    port,
    secret: secretSource.secret,
    secretFile: secretSource.file,
    controlPort: portArg(argv.controlPort, 'BORE_CONTROL_PORT', '--control-port', TUNNEL_DEFAULTS.controlPort, 1),
    // The flags take seconds, the library milliseconds.
    heartbeatTimeoutMs: secondsArg(argv.heartbeatTimeout, '--heartbeat-timeout', TUNNEL_DEFAULTS.heartbeatTimeoutMs / 1000) * 1000,
    maxReconnectDelayMs: secondsArg(argv.maxReconnectDelay, '--max-reconnect-delay', TUNNEL_DEFAULTS.maxReconnectDelayMs / 1000) * 1000,
    drainTimeoutMs: secondsArg(argv.drainTimeout, '--drain-timeout', TUNNEL_DEFAULTS.drainTimeoutMs / 1000) * 1000,
    pool: countArg(argv.pool, '--pool', TUNNEL_DEFAULTS.pool, 0, MAX_POOL_SIZE, 'BORE_POOL'),
    reconnect: argv.reconnect as boolean,
    retryFirst: argv.retryFirst as boolean,
  };
  if (!single) {
    const tunnels = Object.fromEntries(mappings.map((m) => [m.name, { localPort: m.localPort, port: m.remotePort ?? 0 }]));
    const inspectPort = inspectArg(argv.inspect);
    const logger = await makeLogger(settings);
    signals.setLogger(logger);
    ignoreHangups(logger, 'local');
    return runTunnels({ ...options, localPort: undefined, port: undefined, tunnels }, logger, signals, inspectPort);
  }
  const inspectPort = inspectArg(argv.inspect);
  const logger = await makeLogger(settings);
  signals.setLogger(logger);
  ignoreHangups(logger, 'local');
  (await import('../system/fd-watch.js')).watchFds({ logger });
  const { startTunnel } = await import('../run/tunnel.js');
  const { clientMachine } = await import('../../machines/client.js');
  const inspector =
    inspectPort === undefined
      ? undefined
      : await (
          await import('../inspector/server.js')
        )
          .startInspector({ machine: clientMachine, port: inspectPort, logger })
          .catch((err: Error) => {
            throw new UsageError(err.message);
          });
  const tunnel = asUsage(() => startTunnel({ ...options, logger, inspect: inspector?.inspect }));
  signals.set((signal) => {
    logger.info(`received ${signal}, stopping`);
    void tunnel.stop();
  });
  const result = await tunnel.done;
  await inspector?.close();
  exit(result.exitCode);
}

/**
 * Runs a set of tunnels (several mappings, or `bore up`) until every one is gone or a
 * signal stops them; exits with {@link tunnelsExitCode}'s code. `reload`, if given, is
 * the config file re-read on SIGHUP (`up-reload.ts`): `read` returns the new options,
 * or throws to keep the running set.
 */
async function runTunnels(
  options: Record<string, unknown>,
  logger: Awaited<ReturnType<typeof makeLogger>>,
  signals: ReturnType<typeof onStopSignal>,
  inspectPort: number | undefined,
  reload?: { file: string; read: () => Record<string, unknown> },
): Promise<void> {
  const { startTunnels } = await import('../run/tunnels.js');
  (await import('../system/fd-watch.js')).watchFds({ logger });
  const inspector = inspectPort === undefined ? undefined : await startSupervisorInspector(inspectPort, logger);
  const tunnels = asUsage(() =>
    startTunnels({ ...(options as unknown as Parameters<typeof startTunnels>[0]), logger, inspect: inspector?.inspect }),
  );
  signals.set((signal) => {
    logger.info(`received ${signal}, stopping`);
    void tunnels.stop();
  });
  if (reload) {
    const { reloadOnHangup } = await import('./up-reload.js');
    reloadOnHangup(tunnels, logger, reload.file, reload.read as () => Parameters<typeof tunnels.reload>[0]);
  }
  const result = await tunnels.done;
  await inspector?.close();
  exit(result.exitCode);
}

/**
 * The inspector of a set of tunnels: it draws the supervisor and each tunnel's client
 * machine (`/graph`'s `child`), and `/snapshot` has every tunnel under `children`.
 */
async function startSupervisorInspector(port: number, logger: Awaited<ReturnType<typeof makeLogger>>) {
  const { startInspector } = await import('../inspector/server.js');
  const { supervisorDerived, supervisorMachine } = await import('../../machines/supervisor.js');
  const { clientMachine } = await import('../../machines/client.js');
  const derived = supervisorDerived;
  return startInspector({ machine: supervisorMachine, child: clientMachine, derived, port, logger }).catch((err: Error) => {
    throw new UsageError(err.message);
  });
}

async function runUp(argv: Record<string, unknown>): Promise<void> {
  // A SIGHUP during start-up (caught since bin.ts) is a reload once the tunnels run.
  const signals = onStopSignal(() => exit(0));
  const settings = logSettings(argv);
  const path = fromEnv(argv.config, 'BORE_CONFIG') ?? 'bore.toml';
  const { loadConfig, ConfigError } = await import('./config.js');
  const read = () => {
    try {
      return loadConfig(path) as unknown as Record<string, unknown>;
    } catch (err) {
      if (err instanceof ConfigError) throw new UsageError(err.message);
      throw err;
    }
  };
  const options = read();
  const logger = await makeLogger(settings);
  signals.setLogger(logger);
  logger.info(`config ${path}: ${Object.keys(options.tunnels as object).length} tunnels`, { file: path });
  await runTunnels(options, logger, signals, inspectArg(argv.inspect), { file: path, read });
}

async function runServer(argv: Record<string, unknown>): Promise<void> {
  const signals = onStopSignal(() => exit(0));
  const settings = logSettings(argv);
  const minPort = portArg(argv.minPort, 'BORE_MIN_PORT', '--min-port', DEFAULT_MIN_PORT, 1);
  const maxPort = portArg(argv.maxPort, 'BORE_MAX_PORT', '--max-port', DEFAULT_MAX_PORT, 1);
  if (minPort > maxPort) throw new UsageError(`empty port range: --min-port ${minPort} is greater than --max-port ${maxPort}`);
  const drainMs = secondsArg(argv.drainTimeout, '--drain-timeout', DRAIN_TIMEOUT_MS / 1000) * 1000;
  const metrics = metricsArg(argv.metrics, argv.metricsHost);
  const secretSource = secretArg(argv);
  const secret = secretSource.file === undefined ? secretSource.secret : readSecrets(secretSource.file);
  const bindAddr = (argv.bindAddr as string | undefined) ?? DEFAULT_BIND_ADDR;
  const bindTunnels = (argv.bindTunnels as string | undefined) ?? DEFAULT_BIND_ADDR;
  const logger = await makeLogger(settings);
  signals.setLogger(logger);
  const fds = (await import('../system/fd-watch.js')).watchFds({ logger });
  const { BoreServer } = await import('../server/server.js');
  const server = asUsage(
    () =>
      new BoreServer({
        minPort,
        maxPort,
        secret,
        controlPort: portArg(argv.controlPort, 'BORE_CONTROL_PORT', '--control-port', DEFAULT_CONTROL_PORT),
        bindAddr,
        bindTunnels,
        clientTimeoutMs: secondsArg(argv.clientTimeout, '--client-timeout', CLIENT_TIMEOUT_MS / 1000, MIN_CLIENT_TIMEOUT_MS / 1000) * 1000,
        maxPendingPerTunnel: countArg(argv.maxPending, '--max-pending', MAX_PENDING_PER_TUNNEL),
        maxPoolPerTunnel: countArg(argv.maxPool, '--max-pool', MAX_POOL_PER_TUNNEL, 0, MAX_POOL_SIZE),
        maxTunnelsPerAddr: countArg(argv.maxTunnelsPerAddr, '--max-tunnels-per-addr', MAX_TUNNELS_PER_ADDR, 0),
        maxAuthFailures: countArg(argv.maxAuthFailures, '--max-auth-failures', MAX_AUTH_FAILURES, 0),
        authFailureWindowMs: secondsArg(argv.authFailureWindow, '--auth-failure-window', AUTH_FAILURE_WINDOW_MS / 1000) * 1000,
        ipv6PrefixLength: countArg(argv.ipv6Prefix, '--ipv6-prefix', IPV6_PREFIX_LENGTH, 1, 128),
        accessLog: argv.accessLog === true,
        logger,
      }),
  );
  signals.set((signal) => {
    logger.info(`received ${signal}, shutting down`);
    void server.close(drainMs).then(() => exit(0));
  });
  // SIGHUP reads a secret file again (a rotation); there is nothing else to reload.
  const { file } = secretSource;
  if (file === undefined) ignoreHangups(logger, 'server');
  else onHangup(() => reloadSecrets(server, file, logger));
  try {
    const port = await server.listen();
    if (secret === undefined && !(isLoopback(bindAddr) && isLoopback(bindTunnels))) {
      const { formatHostPort } = await import('../net/address.js');
      logger.warn(
        isLoopback(bindAddr)
          ? `no secret: anyone who can reach ${bindTunnels} can connect to the tunnels, and any local user can open them (use --secret or --secret-file)`
          : `no secret: anyone who can reach ${formatHostPort(bindAddr, port)} can open tunnels (use --secret or --secret-file)`,
        { addr: bindAddr, port, bindTunnels },
      );
    }
  } catch (err) {
    logger.error(`could not listen: ${(err as Error).message}`);
    exit(1);
    return;
  }
  if (metrics) {
    // prom-client is loaded only here: without --metrics it costs nothing.
    const { startMetrics } = await import('../server/metrics.js');
    try {
      const { url } = await startMetrics(server, { ...metrics, fdWatch: fds });
      logger.info(`metrics at ${url}`);
    } catch (err) {
      logger.error(`could not listen for metrics: ${(err as Error).message}`);
      void server.close(0).then(() => exit(1));
    }
  }
}

const LOCAL_DESCRIBE = 'Expose a local port through a bore server';
const SERVER_DESCRIBE = 'Run a bore server that clients can expose ports through';
const LOCAL_USAGE =
  '$0 <LOCAL_PORT>[:REMOTE_PORT]... --to <TO> [options]\n\nExpose the local port LOCAL_PORT [env: BORE_LOCAL_PORT] through the bore server TO; several mappings (`3000 8080:18080`) run as several tunnels in one process. SIGHUP is logged and changes nothing (there is nothing to reload): a terminal hang-up does not stop it.';
const UP_DESCRIBE = 'Run the tunnels of a config file (bore.toml); SIGHUP reloads it';
const UP_USAGE = `$0 [--config PATH]\n\n${UP_DESCRIBE}: added tunnels start, removed ones stop, changed ones restart, the others keep their connections (a SIGHUP during start-up is applied once the tunnels run).`;
const SERVER_USAGE = `$0\n\n${SERVER_DESCRIBE}. SIGHUP reads --secret-file again (to rotate the secret); otherwise it is logged and changes nothing.`;

function localOptions<T>(y: Argv<T>) {
  return logOptions(
    y
      .positional('local-port', {
        describe:
          'Port of the local service to expose [env: BORE_LOCAL_PORT]; LOCAL_PORT:REMOTE_PORT also asks for the public port; several give several tunnels',
        type: 'string',
      })
      .option('to', { alias: 't', type: 'string', describe: 'Address of the bore server [env: BORE_SERVER] (required)', requiresArg: true })
      .option('port', {
        alias: 'p',
        type: 'string',
        describe: 'Public port to ask for; 0 asks for any [env: BORE_PORT]. With several mappings, use LOCAL_PORT:REMOTE_PORT instead',
        defaultDescription: String(TUNNEL_DEFAULTS.port),
      })
      .option('local-host', {
        alias: 'l',
        type: 'string',
        describe: 'Host of the local service',
        defaultDescription: TUNNEL_DEFAULTS.localHost,
        requiresArg: true,
      })
      .option('secret', { alias: 's', type: 'string', describe: 'Secret shared with the server [env: BORE_SECRET]', requiresArg: true })
      .option('secret-file', {
        type: 'string',
        describe:
          'File holding the secret (its first line), re-read at every connection attempt; instead of --secret [env: BORE_SECRET_FILE]',
        requiresArg: true,
      })
      .option('control-port', {
        type: 'string',
        describe: "Server's control port [env: BORE_CONTROL_PORT]",
        defaultDescription: String(TUNNEL_DEFAULTS.controlPort),
      })
      .option('heartbeat-timeout', {
        type: 'string',
        requiresArg: true,
        describe: 'Seconds without a message from the server before the connection counts as lost',
        defaultDescription: String(TUNNEL_DEFAULTS.heartbeatTimeoutMs / 1000),
      })
      .option('max-reconnect-delay', {
        type: 'string',
        requiresArg: true,
        describe: 'Longest wait between reconnect attempts, seconds',
        defaultDescription: String(TUNNEL_DEFAULTS.maxReconnectDelayMs / 1000),
      })
      .option('reconnect', {
        type: 'boolean',
        default: TUNNEL_DEFAULTS.reconnect,
        describe: 'Reconnect after a loss; --no-reconnect exits with status 4 instead',
      })
      .option('retry-first', {
        type: 'boolean',
        default: TUNNEL_DEFAULTS.retryFirst,
        describe: 'Keep retrying when the very first attempt fails (for services started at boot)',
      })
      .option('drain-timeout', {
        type: 'string',
        requiresArg: true,
        describe: 'On SIGINT/SIGTERM, seconds to let open connections finish (a second signal skips the wait)',
        defaultDescription: String(TUNNEL_DEFAULTS.drainTimeoutMs / 1000),
      })
      .option('pool', {
        type: 'string',
        requiresArg: true,
        describe:
          'Idle data connections kept open to a bore-ts server so a new visitor needs no round trip between client and server (0: none; a Rust bore server is used the standard way) [env: BORE_POOL]',
        defaultDescription: String(TUNNEL_DEFAULTS.pool),
      })
      .option('inspect', {
        type: 'string',
        describe:
          'Serve a live view of the client state machine (with several mappings: of every tunnel and their supervisor) on http://127.0.0.1:PORT/ (--inspect or --inspect=PORT; random port by default)',
      })
      .epilogue(
        'Exit status: 0 stopped by SIGINT/SIGTERM; 2 usage error; 3 fatal error, not retried (invalid secret, port not allowed, ...); 4 connection lost or server unreachable and not retrying. With several mappings, one tunnel giving up leaves the others running; once all are gone: 4 if any gave up on a loss or an unreachable server, else 3.',
      ),
  );
}

function upOptions<T>(y: Argv<T>) {
  return logOptions(
    y
      .option('config', {
        alias: 'c',
        type: 'string',
        requiresArg: true,
        describe: 'The config file (TOML; see examples/bore.toml) [env: BORE_CONFIG]',
        defaultDescription: 'bore.toml',
      })
      .option('inspect', {
        type: 'string',
        describe:
          'Serve a live view of the supervisor and every tunnel (state, context, chart) on http://127.0.0.1:PORT/; GET /snapshot has every tunnel under "children" (--inspect or --inspect=PORT)',
      })
      .epilogue(
        'Exit status: 0 stopped by SIGINT/SIGTERM; 2 usage error or invalid config file; once every tunnel has given up before any reload, 4 if any was lost or unreachable (a restart may help), else 3 (every one failed with a fatal error). One tunnel giving up is logged and leaves the others running. After a reload the process does not exit when every tunnel has given up (a wrong secret in the new file): it logs it and waits for a corrected file and SIGHUP.',
      ),
  );
}

function serverOptions<T>(y: Argv<T>) {
  return logOptions(
    y
      .option('min-port', {
        type: 'string',
        describe: 'Lowest public port clients may get [env: BORE_MIN_PORT]',
        defaultDescription: String(DEFAULT_MIN_PORT),
      })
      .option('max-port', {
        type: 'string',
        describe: 'Highest public port clients may get [env: BORE_MAX_PORT]',
        defaultDescription: String(DEFAULT_MAX_PORT),
      })
      .option('secret', { alias: 's', type: 'string', describe: 'Secret clients must know [env: BORE_SECRET]', requiresArg: true })
      .option('secret-file', {
        type: 'string',
        describe:
          'File of secrets clients may use, one per line (during a rotation the new and the old), re-read on SIGHUP; instead of --secret [env: BORE_SECRET_FILE]',
        requiresArg: true,
      })
      .option('control-port', {
        type: 'string',
        describe: 'Port of the control listener [env: BORE_CONTROL_PORT]',
        defaultDescription: String(DEFAULT_CONTROL_PORT),
      })
      .option('bind-addr', {
        type: 'string',
        describe: 'Address of the control listener',
        defaultDescription: DEFAULT_BIND_ADDR,
        requiresArg: true,
      })
      .option('bind-tunnels', {
        type: 'string',
        describe: 'Address of the public listeners',
        defaultDescription: DEFAULT_BIND_ADDR,
        requiresArg: true,
      })
      .option('client-timeout', {
        type: 'string',
        requiresArg: true,
        describe: `Seconds within which a silently dead client is dropped and its port freed (Linux TCP_USER_TIMEOUT; elsewhere the kernel retransmission limit); at least ${MIN_CLIENT_TIMEOUT_MS / 1000}`,
        defaultDescription: String(CLIENT_TIMEOUT_MS / 1000),
      })
      .option('max-pending', {
        type: 'string',
        requiresArg: true,
        describe: 'Unclaimed public connections kept per tunnel; past it the oldest is dropped',
        defaultDescription: String(MAX_PENDING_PER_TUNNEL),
      })
      .option('max-pool', {
        type: 'string',
        requiresArg: true,
        describe:
          'Idle pooled data connections a bore-ts client may keep per tunnel (a larger request gets this many; 0: no pool, every connection takes the standard path)',
        defaultDescription: String(MAX_POOL_PER_TUNNEL),
      })
      .option('max-tunnels-per-addr', {
        type: 'string',
        requiresArg: true,
        describe: 'Tunnels one client address may hold at once; past it Hello is refused (0: no limit)',
        defaultDescription: String(MAX_TUNNELS_PER_ADDR),
      })
      .option('max-auth-failures', {
        type: 'string',
        requiresArg: true,
        describe:
          'Failed handshakes (wrong or missing secret, garbage, timeout) from one address within --auth-failure-window after which it may open no new tunnel for as long; its tunnels that are up keep working (0: never)',
        defaultDescription: String(MAX_AUTH_FAILURES),
      })
      .option('auth-failure-window', {
        type: 'string',
        requiresArg: true,
        describe: 'Seconds in which failed handshakes are counted, and length of the cool-down',
        defaultDescription: String(AUTH_FAILURE_WINDOW_MS / 1000),
      })
      .option('ipv6-prefix', {
        type: 'string',
        requiresArg: true,
        describe: 'Bits of an IPv6 address that make one peer for the per-address limits (128: each address)',
        defaultDescription: String(IPV6_PREFIX_LENGTH),
      })
      .option('drain-timeout', {
        type: 'string',
        requiresArg: true,
        describe: 'On SIGINT/SIGTERM, seconds to let open connections finish (a second signal skips the wait)',
        defaultDescription: String(DRAIN_TIMEOUT_MS / 1000),
      })
      .option('metrics', {
        type: 'string',
        requiresArg: true,
        describe: 'Serve Prometheus metrics and /healthz over HTTP on <addr:port> [env: BORE_METRICS]',
        defaultDescription: 'off',
      })
      .option('metrics-host', {
        type: 'string',
        requiresArg: true,
        describe: 'Host names /metrics answers to besides IP addresses and localhost, comma-separated [env: BORE_METRICS_HOST]',
      })
      .option('access-log', {
        type: 'boolean',
        describe: 'Log one info line per public connection when it ends (visitor, port, bytes, duration, how it ended)',
        defaultDescription: 'off',
      }),
  );
}

/** The commands of `bore`. */
const COMMANDS = ['local', 'up', 'server'];

/**
 * yargs's "Unknown argument(s): too, z" rewritten to name each one as it was typed,
 * with a suggestion where one is close: `unknown option --too. Did you mean --to?`,
 * `unknown command lcoal. Did you mean local?`. `args` are the parser's arguments;
 * `options` lists the parser's options (called only when there is an error to report).
 */
function unknownArguments(msg: string, args: string[], options: () => string[]): string {
  const m = /^Unknown arguments?: (.+)$/.exec(msg);
  if (!m) return msg;
  const names = m[1]!.split(', ');
  const longOptions = () => options().filter((o) => o.length > 1);
  return (
    names
      // yargs adds the camelCase twin of a dashed name (too-much, tooMuch): report the one typed.
      .filter((name) => !names.some((other) => other !== name && other.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()) === name))
      .map((name) => {
        const typed = args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`) || a === `-${name}` || a.startsWith(`-${name}=`));
        if (typed !== undefined) {
          const flag = typed.startsWith('--') ? `--${name}` : `-${name}`;
          const near = flag.startsWith('--') ? didYouMean(name, longOptions()) : undefined;
          return `unknown option ${flag}${near ? `. Did you mean --${near}?` : ''}`;
        }
        if (args[0] === name && options === topLevelOptions) {
          const near = didYouMean(name, COMMANDS);
          return `unknown command ${name}${near ? `. Did you mean ${near}?` : ': use `bore local`, `bore up` or `bore server` (see `bore --help`)'}`;
        }
        return `unexpected argument '${name}'`;
      })
      .join('\n')
  );
}

/** The top-level parser's options (no command given). */
function topLevelOptions(): string[] {
  return ['help', 'version'];
}

/** The option names `builder` defines, read from a parser of its own. */
function optionsOf(builder: (y: Argv) => Argv<unknown>): () => string[] {
  // getOptions() is yargs's own (its types, @types/yargs 17, do not declare it).
  type WithOptions = { getOptions(): { key: Record<string, unknown> } };
  return () => Object.keys((builder(yargs([]).help().version(version)) as unknown as WithOptions).getOptions().key);
}

/** What every parser shares: strict flags, --help/--version, usage errors thrown as {@link UsageError}. */
function common<T>(y: Argv<T>, args: string[], options: () => string[], duplicatesAsArray = false) {
  return y
    .parserConfiguration({ 'duplicate-arguments-array': duplicatesAsArray })
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
      throw new UsageError(unknownArguments(msg ?? err?.message ?? 'invalid arguments', args, options));
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
    // yargs keeps only the last value of a variadic positional unless repeated arguments
    // make arrays: they do here, and a flag given twice is reduced to its last value.
    return common(yargs(rest).scriptName('bore local').usage(LOCAL_USAGE), rest, optionsOf(localOptions), true).command(
      '$0 [local-port..]',
      false,
      localOptions,
      (argv) => runLocal(lastOfEachFlag(argv as Record<string, unknown>)),
    );
  }
  if (command === 'up') {
    return common(yargs(rest).scriptName('bore up').usage(UP_USAGE), rest, optionsOf(upOptions)).command('$0', false, upOptions, (argv) =>
      runUp(argv as Record<string, unknown>),
    );
  }
  if (command === 'server') {
    return common(yargs(rest).scriptName('bore server').usage(SERVER_USAGE), rest, optionsOf(serverOptions)).command(
      '$0',
      false,
      serverOptions,
      (argv) => runServer(argv as Record<string, unknown>),
    );
  }
  return common(
    yargs(args)
      .scriptName('bore')
      .usage(
        '$0 <command> [options]\n\nA TCP tunnel that exposes a local port through a remote server (wire-compatible with the Rust bore).',
      )
      .command('local [local-port..]', LOCAL_DESCRIBE)
      .command('up', UP_DESCRIBE)
      .command('server', SERVER_DESCRIBE)
      .demandCommand(1, 'missing command: use `bore local`, `bore up` or `bore server` (see `bore --help`)'),
    args,
    topLevelOptions,
  );
}

async function main(): Promise<void> {
  await buildCli(hideBin(process.argv)).parseAsync();
}

await main().catch(async (err: unknown) => {
  if (err instanceof UsageError) {
    if (chosenFormat === 'json') printError(err.message, { code: 'usage' });
    else printError(`${err.message}\n\nRun \`bore --help\` or \`bore <command> --help\` for usage.`);
    exit(USAGE_EXIT);
  } else {
    const raw = (err as Error)?.stack;
    // Source maps are off (src/cli/bin.ts): the stack is mapped to src/*.ts now, by a chunk loaded only for this.
    const stack =
      raw === undefined
        ? undefined
        : await import('./crash-report.js').then(
            ({ mapStack }) => mapStack(raw),
            () => raw,
          );
    if (chosenFormat === 'json') printError(String((err as Error)?.message ?? err), { stack });
    else printError(stack ?? String(err));
    exit(1);
  }
});
