/** `bore server`: a {@link BoreServer} from the flags, its secret file and certificate reloaded on SIGHUP, and its metrics listener. */
import net from 'node:net';
import { parseMetricsHosts } from '../server/metrics-guard.js';
import { SERVER_OPTIONS } from '../server/options.js';
import { BoreServer } from '../server/server.js';
import { formatHostPort } from '../net/address.js';
import { watchFds } from '../system/fd-watch.js';
import { DEFAULT_MAX_PORT, DEFAULT_MIN_PORT, DRAIN_TIMEOUT_MS } from '../server/defaults.js';
import { readSecrets } from '../system/secret-file.js';
import { type Args, UsageError, asUsage, fromTable, given, secondsArg, secretArg } from './args.js';
import { EXIT_CODES, exit, logSettings, makeLogger, onStopSignal } from './process.js';
import { ignoreHangups, onHangup } from './hangup.js';
import { reloader } from './server-reload.js';
import { packageVersion } from './package-files.js';

/**
 * The certificate flags, checked together: `--tls-cert` with `--tls-key`, neither with
 * `--tls-self-signed`, `--tls-names` only with it. Returns the files to reload on SIGHUP.
 */
function tlsArgs(argv: Args): { cert: string; key: string } | undefined {
  const cert = given(argv['tls-cert'], 'BORE_TLS_CERT', '--tls-cert');
  const key = given(argv['tls-key'], 'BORE_TLS_KEY', '--tls-key');
  const selfSigned = given(argv['tls-self-signed'], 'BORE_TLS_SELF_SIGNED', '--tls-self-signed');
  const names = given(argv['tls-names'], 'BORE_TLS_NAMES', '--tls-names');
  if (selfSigned && (cert || key)) {
    throw new UsageError(
      `${selfSigned.name} and ${(cert ?? key)?.name} given together: use either a certificate of your own (--tls-cert and --tls-key) or one the server makes (--tls-self-signed)`,
    );
  }
  if (names && !selfSigned) throw new UsageError(`${names.name} goes with --tls-self-signed: it names the certificate the server makes`);
  if (cert && !key) throw new UsageError(`${cert.name} needs --tls-key, the file of the certificate's private key`);
  if (key && !cert) throw new UsageError(`${key.name} needs --tls-cert, the file of the certificate (PEM, full chain)`);
  return cert && key ? { cert: cert.text, key: key.text } : undefined;
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
    throw new UsageError(`invalid value for ${names?.name}: '${names?.text}' (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** A listening address: an IP address (or `localhost`), as the Rust bore's `--bind-addr` takes; else a usage error. */
function addressArg(value: unknown, flag: string): string {
  const text = String(value);
  if (net.isIP(text) === 0 && text !== 'localhost') {
    throw new UsageError(`invalid value for ${flag}: '${text}' (expected an IP address of this machine, e.g. 0.0.0.0, :: or 127.0.0.1)`);
  }
  return text;
}

/**
 * The checks of `--tls-acme`, `--acme-directory` and `--acme-email` (or their environment
 * variables) against the table's rules, each error a usage error naming the flag; and
 * `--tls-acme` with `--tls-cert`, which are two sources of the certificate.
 */
function checkAcmeFlags(argv: Args, flags: Record<string, unknown>): void {
  for (const key of ['tlsAcme', 'acmeDirectory', 'acmeEmail'] as const) {
    const spec = SERVER_OPTIONS[key];
    const arg = given(argv[spec.flag], spec.env, `--${spec.flag}`);
    if (arg === undefined) continue;
    try {
      spec.rule(arg.name, arg.text);
    } catch (err) {
      throw new UsageError(`invalid value for ${arg.name}: ${(err as Error).message.replace(`${arg.name} must be`, 'expected')}`);
    }
  }
  if (flags.tlsAcme !== undefined && flags.tlsCert !== undefined) {
    throw new UsageError('--tls-acme and --tls-cert both give the certificate: use one of them');
  }
}

/** Runs `bore server` with `argv`. */
export async function runServer(argv: Args): Promise<void> {
  const signals = onStopSignal(() => exit(0));
  const settings = logSettings(argv);
  const flags = fromTable(SERVER_OPTIONS, argv, ['secret']);
  checkAcmeFlags(argv, flags);
  const minPort = typeof flags.minPort === 'number' ? flags.minPort : DEFAULT_MIN_PORT;
  const maxPort = typeof flags.maxPort === 'number' ? flags.maxPort : DEFAULT_MAX_PORT;
  if (minPort > maxPort) throw new UsageError(`empty port range: --min-port ${minPort} is greater than --max-port ${maxPort}`);
  const drainMs = secondsArg(argv['drain-timeout'], '--drain-timeout', DRAIN_TIMEOUT_MS / 1000) * 1000;
  const metrics = metricsArg(argv.metrics, argv['metrics-host']);
  const secretSource = secretArg(argv);
  const tlsFiles = tlsArgs(argv);
  const secret = secretSource.file === undefined ? secretSource.secret : readSecrets(secretSource.file);
  const bindAddr = addressArg(flags.bindAddr, '--bind-addr');
  const bindTunnels = addressArg(flags.bindTunnels, '--bind-tunnels');
  const logger = makeLogger(settings);
  signals.setLogger(logger);
  // The flags were checked against the table's ranges, and the constructor checks them again.
  const server = asUsage(() => new BoreServer({ ...flags, secret, logger }), SERVER_OPTIONS);
  signals.set((signal) => {
    logger.info(`received ${signal}, shutting down`);
    void server.close(drainMs).then(() => exit(EXIT_CODES.stopped));
  });
  // SIGHUP reads a secret file (a rotation) and the certificate files (a renewal) again.
  const reload = reloader(server, { secretFile: secretSource.file, tls: tlsFiles }, logger);
  if (reload) onHangup(reload);
  else ignoreHangups(logger, 'server');
  try {
    const port = await server.listen();
    if (secret === undefined && !(isLoopback(bindAddr) && isLoopback(bindTunnels))) {
      logger.warn(
        isLoopback(bindAddr)
          ? `no secret: anyone who can reach ${bindTunnels} can connect to the tunnels, and any local user can open them (use --secret or --secret-file)`
          : `no secret: anyone who can reach ${formatHostPort(bindAddr, port)} can open tunnels (use --secret or --secret-file)`,
        { addr: bindAddr, port, bindTunnels },
      );
    }
  } catch (err) {
    // A self-signed certificate that cannot be kept (its directory) is the call's to fix: not restarted.
    const usage = err instanceof Error && 'code' in err && err.code === 'ERR_BORE_INVALID_OPTION';
    // With --tls-acme, no certificate means no start: a server told to serve TLS never serves plaintext only.
    const acme = err instanceof Error && 'code' in err && err.code === 'ERR_BORE_ACME';
    logger.error(`${usage || acme ? '' : 'could not listen: '}${err instanceof Error ? err.message : String(err)}`);
    exit(usage ? EXIT_CODES.usage : EXIT_CODES.failed);
    return;
  }
  // From listening on: its first reading is the process's first use of libuv's thread pool.
  const fds = watchFds({ logger });
  if (metrics) {
    // prom-client is loaded only here: without --metrics it costs nothing.
    const { startMetrics } = await import('../server/metrics.js');
    try {
      const { url } = await startMetrics(server, { ...metrics, fdWatch: fds, version: packageVersion() });
      logger.info(`metrics at ${url}`);
    } catch (err) {
      logger.error(`could not listen for metrics: ${err instanceof Error ? err.message : String(err)}`);
      void server.close(0).then(() => exit(EXIT_CODES.failed));
    }
  }
}
