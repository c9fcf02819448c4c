/**
 * Public listeners: binding the port a client asks for, or a random free one in the
 * server's range, refusing with the error codes of the shared table.
 */
import net, { type Server } from 'node:net';
import { SERVER_ERROR_TEXTS, type ServerErrorCode } from '../protocol/constants.js';
import type { Logger } from '../log/logger.js';

/**
 * Random ports tried for `Hello(0)` before giving up, as the Rust server. Its reasoning
 * (bore's `server.rs`): to find a free port with probability at least 1-δ when a
 * fraction ε of the ports is free, about -2 ln(δ) / ε independent, uniformly chosen
 * ports suffice (up to a second-order term in ε). 150 tries give 99.999% success
 * (δ = 0.00001) with 85% of the range in use (ε = 0.15).
 */
export const PORT_TRIES = 150;

/**
 * Listen backlog of the control and public listeners: Node's default (511) overflows
 * in a burst of 1,000 connections, and each dropped SYN costs a 1 s retransmission.
 * The kernel caps it at `net.core.somaxconn`.
 */
export const LISTEN_BACKLOG = 4096;

/**
 * The error texts the server sends, by name (the values of {@link SERVER_ERROR_TEXTS},
 * kept for callers and tests that name them).
 */
export const ServerErrors = {
  invalidSecret: SERVER_ERROR_TEXTS['invalid-secret'],
  secretRequired: SERVER_ERROR_TEXTS['secret-required'],
  portNotAllowed: SERVER_ERROR_TEXTS['port-not-allowed'],
  portInUse: SERVER_ERROR_TEXTS['port-in-use'],
  permissionDenied: SERVER_ERROR_TEXTS['permission-denied'],
  bindFailed: SERVER_ERROR_TEXTS['bind-failed'],
  noFreePort: SERVER_ERROR_TEXTS['no-free-port'],
  tooManyTunnels: SERVER_ERROR_TEXTS['too-many-tunnels'],
  addressCoolingDown: SERVER_ERROR_TEXTS['address-cooling-down'],
} as const;

/** Why a public listener could not be opened; its message is the text the client is sent. */
export class PortRefusal extends Error {
  override name = 'PortRefusal';
  /** The refusal's code in the shared table. */
  readonly code: ServerErrorCode;

  constructor(code: ServerErrorCode) {
    super(SERVER_ERROR_TEXTS[code]);
    this.code = code;
  }
}

/** Where public listeners may be opened. */
export interface PortRange {
  minPort: number;
  maxPort: number;
  /** Address the public listeners bind to. */
  host: string;
}

/**
 * Opens the public listener for `Hello(requested)`: that exact port, or for 0 a random
 * free port in the range. Rejects with a {@link PortRefusal}.
 */
export async function openPublicListener(requested: number, range: PortRange, log: Logger): Promise<Server> {
  const { minPort, maxPort } = range;
  if (requested > 0) {
    if (requested < minPort || requested > maxPort) throw new PortRefusal('port-not-allowed');
    return bindPublicListener(requested, range.host, log);
  }
  for (let i = 0; i < PORT_TRIES; i++) {
    const candidate = minPort + Math.floor(Math.random() * (maxPort - minPort + 1));
    try {
      return await bindPublicListener(candidate, range.host, log);
    } catch {
      // taken: try another
    }
  }
  throw new PortRefusal('no-free-port');
}

/**
 * How public listeners are made: half-open connections pass through; nothing is read
 * before the client claims a connection; and Nagle's algorithm is off on the visitor's
 * socket, as on every other socket a visitor's bytes cross (the service's answer in two
 * writes a few ms apart otherwise waited for the visitor's delayed ACK: 44 ms instead
 * of 5).
 */
export const PUBLIC_LISTENER_OPTIONS = { allowHalfOpen: true, pauseOnConnect: true, noDelay: true } as const;

/**
 * Binds one public listener. New connections start paused (nothing is read before the
 * client claims them). Rejects with a {@link PortRefusal}.
 */
export function bindPublicListener(port: number, host: string, log: Logger): Promise<Server> {
  return new Promise((resolve, reject) => {
    const listener = net.createServer(PUBLIC_LISTENER_OPTIONS);
    listener.once('error', (err: NodeJS.ErrnoException) => {
      reject(new PortRefusal(err.code === 'EADDRINUSE' ? 'port-in-use' : err.code === 'EACCES' ? 'permission-denied' : 'bind-failed'));
    });
    listener.listen({ port, host, exclusive: true, backlog: LISTEN_BACKLOG }, () => {
      listener.removeAllListeners('error');
      listener.on('error', (err) => log.warn('public listener error', { port, reason: err.message }));
      resolve(listener);
    });
  });
}
