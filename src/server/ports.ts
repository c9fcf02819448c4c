/**
 * Public listeners: binding the port a client asks for, or a random free one in the
 * server's range, with the error texts the Rust server sends back.
 */
import net, { type Server } from 'node:net';
import type { Logger } from '../log.js';

/** Random ports tried for `Hello(0)` before giving up. */
export const PORT_TRIES = 150;

/**
 * Error texts the server sends: the Rust server's (clients match on some of them),
 * and `tooManyTunnels`, which only this server sends.
 */
export const ServerErrors = {
  invalidSecret: 'invalid secret',
  secretRequired: 'server requires secret, but no secret was provided',
  portNotAllowed: 'client port number not in allowed range',
  portInUse: 'port already in use',
  permissionDenied: 'permission denied',
  bindFailed: 'failed to bind to port',
  noFreePort: 'failed to find an available port',
  tooManyTunnels: 'too many tunnels from this address',
} as const;

/** Where public listeners may be opened. */
export interface PortRange {
  minPort: number;
  maxPort: number;
  /** Address the public listeners bind to. */
  host: string;
}

/**
 * Opens the public listener for `Hello(requested)`: that exact port, or for 0 a random
 * free port in the range. Rejects with one of the {@link ServerErrors} texts.
 */
export async function openPublicListener(requested: number, range: PortRange, log: Logger): Promise<Server> {
  const { minPort, maxPort } = range;
  if (requested > 0) {
    if (requested < minPort || requested > maxPort) throw new Error(ServerErrors.portNotAllowed);
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
  throw new Error(ServerErrors.noFreePort);
}

/**
 * Binds one public listener. New connections start paused (nothing is read before the
 * client claims them). Rejects with a {@link ServerErrors} text.
 */
export function bindPublicListener(port: number, host: string, log: Logger): Promise<Server> {
  return new Promise((resolve, reject) => {
    const listener = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    listener.once('error', (err: NodeJS.ErrnoException) => {
      const text = err.code === 'EADDRINUSE' ? ServerErrors.portInUse : err.code === 'EACCES' ? ServerErrors.permissionDenied : ServerErrors.bindFailed;
      reject(new Error(text));
    });
    listener.listen({ port, host, exclusive: true, backlog: 4096 }, () => {
      listener.removeAllListeners('error');
      listener.on('error', (err) => log.warn('public listener error', { port, reason: err.message }));
      resolve(listener);
    });
  });
}
