/**
 * TCP options for control connections: no Nagle delay, keepalive probes (idle 30 s,
 * interval 10 s, 3 probes) and, on Linux, a bound on unacknowledged data
 * (TCP_USER_TIMEOUT), so a silently dead peer is noticed in seconds, not minutes.
 * The per-socket options come from `net-keepalive`; where it cannot load or the
 * platform lacks an option, the socket keeps the defaults and a debug line says so.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Logger } from './log.js';

/** Keepalive idle time before the first probe. */
export const KEEPALIVE_IDLE_MS = 30_000;
/** Interval between keepalive probes. */
export const KEEPALIVE_INTERVAL_MS = 10_000;
/** Unanswered probes before the connection is dropped. */
export const KEEPALIVE_PROBES = 3;

type NetKeepalive = typeof import('net-keepalive');
let netKeepalive: NetKeepalive | null | undefined;
let warned = false;

function loadNetKeepalive(logger: Logger): NetKeepalive | null {
  if (netKeepalive === undefined) {
    try {
      netKeepalive = createRequire(import.meta.url)('net-keepalive') as NetKeepalive;
    } catch (err) {
      netKeepalive = null;
      logger.debug('socket options unavailable, using platform defaults', { reason: (err as Error).message });
    }
  }
  return netKeepalive;
}

/**
 * Applies the control-connection options to a connected socket. `userTimeoutMs`
 * (Linux only) bounds how long written data may stay unacknowledged; 0 leaves it.
 */
export function tuneControlSocket(socket: Socket, logger: Logger, userTimeoutMs = 0): void {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
  const lib = loadNetKeepalive(logger);
  if (!lib) return;
  try {
    lib.setKeepAliveInterval(socket, KEEPALIVE_INTERVAL_MS);
    lib.setKeepAliveProbes(socket, KEEPALIVE_PROBES);
    if (userTimeoutMs > 0 && process.platform === 'linux') lib.setUserTimeout(socket, userTimeoutMs);
  } catch (err) {
    if (!warned) {
      warned = true;
      logger.debug('could not set TCP keepalive options', { reason: (err as Error).message });
    }
  }
}
