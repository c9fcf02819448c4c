/**
 * `bore local`: one tunnel ({@link startTunnel}) or, with several mappings, a set
 * ({@link startTunnels}); and the set runner `bore up` shares. The client comes with this
 * module, which only `bore local` and `bore up` load (`commands.ts`); the inspector on demand.
 */
import { TUNNEL_OPTIONS } from '../client/tunnel-options.js';
import { TUNNEL_DEFAULTS } from '../client/defaults.js';
import type { TunnelsOptions, TunnelsReload } from '../run/tunnels.js';
import { startTunnel } from '../run/tunnel.js';
import { clientLiveCounts, clientMachine } from '../../machines/client.js';
import { watchFds } from '../system/fd-watch.js';
import { type Args, UsageError, asUsage, fromTable, given, inspectArg, portArg, secretArg, shown } from './args.js';
import { type CliLogger, type StopSignals, exit, logSettings, makeLogger, onStopSignal } from './process.js';
import { ignoreHangups } from './hangup.js';

/** One `LOCAL_PORT[:REMOTE_PORT]` of `bore local`; its text names the tunnel in logs. */
interface Mapping {
  name: string;
  localPort: number;
  remotePort: number | undefined;
}

/**
 * The mappings of `bore local` (`3000 8080:18080`), or the one of BORE_LOCAL_PORT.
 * A first one that is no port at all is a bad LOCAL_PORT; a later one, an unexpected argument.
 */
function mappingsArg(value: unknown): Mapping[] {
  const items = (Array.isArray(value) ? value : value === undefined ? [] : [value]).map(shown);
  if (items.length === 0) {
    const port = portArg(undefined, TUNNEL_OPTIONS.localPort.env, '<LOCAL_PORT>', -1, 1);
    return port < 0 ? [] : [{ name: String(port), localPort: port, remotePort: undefined }];
  }
  const seen = new Map<string, string>();
  return items.map((item, i) => {
    if (!/^[\d:]+$/.test(item)) {
      throw new UsageError(
        i === 0
          ? `invalid value for <LOCAL_PORT>: '${item}' (expected the local service's port, 1-65535, as a decimal number, e.g. \`bore local 3000 --to bore.example.com\`)`
          : `unexpected argument '${item}'`,
      );
    }
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

/** Runs `bore local` with `argv` (each flag's last value). */
export async function runLocal(argv: Args): Promise<void> {
  const signals = onStopSignal(() => exit(0));
  const settings = logSettings(argv);
  const mappings = mappingsArg(argv.localPort);
  if (mappings.length === 0) {
    // `--inspect 4000` takes 4000 as the inspector's port (its value is optional).
    const inspect = typeof argv.inspect === 'string' && argv.inspect !== '' ? argv.inspect : undefined;
    const hint = inspect === undefined ? '' : ` (--inspect took '${inspect}' as its port: write --inspect=PORT, or put LOCAL_PORT first)`;
    throw new UsageError(`missing <LOCAL_PORT>: the port of the local service, e.g. \`bore local 3000 --to bore.example.com\`${hint}`);
  }
  const to = given(argv.to, TUNNEL_OPTIONS.to.env, '--to');
  if (!to) throw new UsageError('missing --to <TO>: the address of the bore server, e.g. `--to bore.example.com` (or set BORE_SERVER)');
  // One server as host:port (one colon, or a bracketed IPv6 address): the port goes in
  // --control-port. In a list (a,b:7836), each server may carry its own.
  const withPort = to.text.includes(',') ? null : /^(\[[^\]]*\]|[^:]*):(\d+)$/.exec(to.text);
  if (withPort) {
    const [, host, port] = withPort;
    const fix = to.name === '--to' ? `use \`--to ${host} --control-port ${port}\`` : `set ${to.name}=${host} and BORE_CONTROL_PORT=${port}`;
    throw new UsageError(`invalid value for ${to.name}: '${to.text}' (the server's host without a port: ${fix})`);
  }
  const portFlag = given(argv.port, TUNNEL_OPTIONS.port.env, '--port');
  let port = portArg(argv.port, TUNNEL_OPTIONS.port.env, '--port', TUNNEL_DEFAULTS.port);
  if (mappings.length > 1 && portFlag) {
    throw new UsageError(
      `${portFlag.name} is the public port of a single LOCAL_PORT; with several, give each its own as LOCAL_PORT:REMOTE_PORT (e.g. \`bore local 3000 8080:18080\`)`,
    );
  }
  const single = mappings.length === 1 ? mappings[0] : undefined;
  if (single?.remotePort !== undefined) {
    if (portFlag && port !== single.remotePort)
      throw new UsageError(`${portFlag.name} ${port} and the mapping '${single.name}' ask for different public ports: give one of them`);
    port = single.remotePort;
  }
  const secretSource = secretArg(argv);
  const options = {
    ...fromTable(TUNNEL_OPTIONS, argv, ['to', 'port', 'secret', 'secretFile']),
    to: to.text,
    secret: secretSource.secret,
    secretFile: secretSource.file,
  };
  const inspectPort = inspectArg(argv.inspect);
  if (!single) {
    const tunnels = Object.fromEntries(mappings.map((m) => [m.name, { localPort: m.localPort, port: m.remotePort ?? 0 }]));
    const logger = makeLogger(settings);
    signals.setLogger(logger);
    ignoreHangups(logger, 'local');
    return runTunnels({ ...options, tunnels }, logger, signals, inspectPort);
  }
  const logger = makeLogger(settings);
  signals.setLogger(logger);
  ignoreHangups(logger, 'local');
  watchFds({ logger });
  const inspector =
    inspectPort === undefined
      ? undefined
      : await (
          await import('../inspector/server.js')
        )
          .startInspector({ machine: clientMachine, derived: clientLiveCounts, port: inspectPort, logger })
          .catch((err: Error) => {
            throw new UsageError(err.message);
          });
  // The flags were checked against the table's ranges, and startTunnel checks them again.
  const tunnel = asUsage(
    () => startTunnel({ ...options, localPort: single.localPort, port, to: to.text, logger, inspect: inspector?.inspect }),
    TUNNEL_OPTIONS,
  );
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
 * signal stops them; exits with `tunnelsExitCode`'s code. `reload`, if given, is the
 * config file re-read on SIGHUP (`up-reload.ts`): `read` returns the new options, or
 * throws to keep the running set.
 */
export async function runTunnels(
  options: Record<string, unknown> & { tunnels: TunnelsOptions['tunnels'] },
  logger: CliLogger,
  signals: StopSignals,
  inspectPort: number | undefined,
  reload?: { file: string; read: () => TunnelsReload },
): Promise<void> {
  // The supervisor (its machine made when its module loads) only for a set.
  const { startTunnels } = await import('../run/tunnels.js');
  watchFds({ logger });
  const inspector = inspectPort === undefined ? undefined : await startSupervisorInspector(inspectPort, logger);
  // startTunnels checks every option (the flags' and the file's) against the table's rules.
  const tunnels = asUsage(() => startTunnels({ ...options, logger, inspect: inspector?.inspect }));
  signals.set((signal) => {
    logger.info(`received ${signal}, stopping`);
    void tunnels.stop();
  });
  if (reload) {
    const { reloadOnHangup } = await import('./up-reload.js');
    reloadOnHangup(tunnels, logger, reload.file, reload.read);
  }
  const result = await tunnels.done;
  await inspector?.close();
  exit(result.exitCode);
}

/**
 * The inspector of a set of tunnels: it draws the supervisor and each tunnel's client
 * machine (`/graph`'s `child`), and `/snapshot` has every tunnel under `children`.
 */
async function startSupervisorInspector(port: number, logger: CliLogger) {
  const { startInspector } = await import('../inspector/server.js');
  const { supervisorDerived, supervisorMachine } = await import('../../machines/supervisor.js');
  return startInspector({
    machine: supervisorMachine,
    child: clientMachine,
    derived: supervisorDerived,
    childDerived: clientLiveCounts,
    port,
    logger,
  }).catch((err: Error) => {
    throw new UsageError(err.message);
  });
}
