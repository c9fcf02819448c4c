/**
 * bore-ts as a library: run a tunnel client or a server inside your own Node service.
 *
 * ```ts
 * import { startTunnel } from 'bore-ts';
 * const tunnel = startTunnel({ localPort: 3000, to: 'bore.example.com' });
 * tunnel.actor.subscribe((s) => console.log(s.value, s.context.attempt));
 * console.log('public port', await tunnel.ready);
 * await tunnel.stop();
 * ```
 *
 * The `bore` CLI is a thin layer over these exports: `bore local` = {@link startTunnel}
 * (+ {@link startInspector} for `--inspect`), `bore server` = {@link BoreServer}.
 */

import { clientMachine } from '../machines/client.js';
import { type Inspector, type InspectorOptions, startInspector as serveInspector } from './inspector/server.js';

// Client: the machine and the function that runs it from options.
export { startTunnel, tunnelSettings, EXIT, DEFAULT_CONTROL_PORT } from './tunnel.js';
export type { TunnelOptions, Tunnel, TunnelResult } from './tunnel.js';
export { clientMachine, STICKY_PORT_TRIES } from '../machines/client.js';
export type { ClientContext, ClientEvent, ClientMachineInput, LastError, TunnelSettings } from '../machines/client.js';
export { ClientRuntime } from './client/actors.js';
export { ERROR_CLASSES, TunnelError } from './client/errors.js';
export type { ErrorClass, ErrorCode } from './client/errors.js';
export { backoffDelay, DEFAULT_MAX_DELAY_MS } from './client/backoff.js';

// Server.
export { BoreServer, ServerErrors } from './server/server.js';
export type { ServerOptions } from './server/server.js';

// Logging.
export { createLogger, silentLogger, LOG_LEVELS, LOG_FORMATS } from './log.js';
export type { Logger, LoggerOptions } from './log.js';
export { rateLimited, LOG_BURST, LOG_WINDOW_MS, LOG_MAX_KEYS } from './log-rate-limit.js';
export type { RateLimitOptions, RateLimitedLogger } from './log-rate-limit.js';

// Inspector (`--inspect`).
export { INSPECTOR_MAX_STREAMS, INSPECTOR_STREAM_QUEUE_BYTES } from './inspector/server.js';
export type { Inspector, InspectorOptions } from './inspector/server.js';

/**
 * Serves the `--inspect` page on 127.0.0.1: pass its `inspect` to {@link startTunnel}.
 * It draws the tunnel's client machine unless `options.machine` names another.
 */
export function startInspector(options: Partial<InspectorOptions> = {}): Promise<Inspector> {
  return serveInspector({ ...options, machine: options.machine ?? clientMachine });
}
export { InspectorHub, publicContext } from './inspector/hub.js';
export type { LogEntry, PublicSnapshot } from './inspector/hub.js';
export { machineGraph, activePaths } from './inspector/graph.js';
export type { MachineGraph, GraphState, GraphTransition } from './inspector/graph.js';
