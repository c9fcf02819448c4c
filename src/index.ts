/**
 * bore-ts as a library: run a tunnel client or a server inside your own Node service.
 *
 * ```ts
 * import { startTunnel } from 'bore-ts';
 * const tunnel = startTunnel({ localPort: 3000, to: 'bore.example.com' });
 * tunnel.onChange((c) => console.log(c.state, c.attempt, c.publicPort, c.lastError?.message));
 * console.log('public port', await tunnel.ready);
 * await tunnel.stop();
 * ```
 *
 * The `bore` CLI is a thin layer over these exports: `bore local` = {@link startTunnel}
 * (+ {@link startInspector} for `--inspect`), `bore server` = {@link BoreServer}.
 */

import { clientMachine } from '../machines/client.js';
import { supervisorDerived, supervisorMachine } from '../machines/supervisor.js';
import { type Inspector, type InspectorOptions, startInspector as serveInspector } from './inspector/server.js';

// The exports below are what docs/library.md documents; everything else is internal.

// Client: run a tunnel from options; the machine behind it, for `provide` and types.
export { startTunnel, EXIT, DEFAULT_CONTROL_PORT } from './run/tunnel.js';
export type { TunnelOptions, Tunnel, TunnelResult, TunnelChange, TunnelState } from './run/tunnel.js';
export { startTunnels, tunnelsExitCode } from './run/tunnels.js';
export type {
  Tunnels,
  TunnelsOptions,
  TunnelsReload,
  TunnelsChange,
  TunnelsResult,
  TunnelsState,
  TunnelSpecOptions,
} from './run/tunnels.js';
export { clientMachine } from '../machines/client.js';
export { supervisorMachine } from '../machines/supervisor.js';
export type { AggregateState, ReloadDiff } from '../machines/supervisor.js';
export type { ClientContext, ClientEvent, LastError, LiveCounts, TunnelSettings } from '../machines/client.js';
export { TunnelError } from './client/errors.js';
export type { ErrorClass, ErrorCode } from './client/errors.js';
export type { PoolStats } from './client/pool.js';
export type { TunnelTls, TunnelTlsOptions } from './client/tls.js';
export type { ServerOption, ServersOption } from './client/servers.js';

// Server.
export { BoreServer } from './server/server.js';
export type {
  ServerOptions,
  ServerStats,
  ServerCounters,
  ServerEvents,
  TunnelOpenedEvent,
  TunnelClosedEvent,
  ConnectionEvent,
  ConnectionClosedEvent,
} from './server/server.js';
export type { CertificateInfo } from './server/certificate.js';
/** What `listen()` rejects with when a server with `tlsAcme` gets no certificate (code `ERR_BORE_ACME`). */
export { AcmeError, ACME_ERROR } from './server/acme-error.js';
export type { ServerTlsOptions } from './server/tls.js';

// Logging: any object with error/warn/info/debug(message, fields) will do; pino and
// bunyan, called as (fields, message), through objectFirstLogger.
export { createLogger, objectFirstLogger, silentLogger } from './log/logger.js';
export type { Logger, LoggerOptions, ObjectFirstLogger } from './log/logger.js';
export type { RateLimitOptions } from './log/rate-limit.js';

// Inspector (`--inspect`).
export type { Inspector, InspectorOptions } from './inspector/server.js';
export type { PublicSnapshot } from './inspector/hub.js';

/**
 * Serves the `--inspect` page on 127.0.0.1: pass its `inspect` to {@link startTunnel}.
 * It draws the tunnel's client machine unless `options.machine` names another; with
 * `machine: supervisorMachine` (for {@link startTunnels}) it shows every tunnel too,
 * each drawn with the client machine unless `options.child` names another.
 */
export function startInspector(options: Partial<InspectorOptions> = {}): Promise<Inspector> {
  const machine = options.machine ?? clientMachine;
  const supervised = machine === supervisorMachine;
  const child = options.child ?? (supervised ? clientMachine : undefined);
  const derived = options.derived ?? (supervised ? supervisorDerived : undefined);
  return serveInspector({ ...options, machine, ...(child ? { child } : {}), ...(derived ? { derived } : {}) });
}
