/**
 * TCP options for control connections: no Nagle delay, keepalive probes (idle 30 s,
 * interval 10 s, 3 probes) and, on Linux, a bound on unacknowledged data
 * (TCP_USER_TIMEOUT), so a silently dead peer is noticed in seconds, not minutes.
 *
 * The two cover different cases. A server sends heartbeats every 500 ms, so its control
 * connections are never idle and keepalive never probes them: there, TCP_USER_TIMEOUT
 * is what fails the socket once heartbeats stay unacknowledged. Keepalive covers a
 * connection on which nothing is being sent (and, with a user timeout set, Linux also
 * applies that timeout to the probes).
 *
 * The per-socket options come from `net-keepalive`; where it cannot load, the sockets keep
 * the platform defaults and a warning says so once; where the platform lacks an option, a
 * debug line does.
 *
 * And one option for the multiplexed data connection: a bound on the bytes the kernel
 * holds unsent ({@link boundUnsentBytes}).
 */
import type { Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import { loadLibc, handleFd } from './libc.js';
import { type NetKeepalive, requireNetKeepalive } from './native-keepalive.js';

/** Keepalive idle time before the first probe. */
export const KEEPALIVE_IDLE_MS = 30_000;
/** Interval between keepalive probes. */
export const KEEPALIVE_INTERVAL_MS = 10_000;
/** Unanswered probes before the connection is dropped. */
export const KEEPALIVE_PROBES = 3;

/** Which of the options {@link tuneControlSocket} could apply. */
export interface TuneResult {
  /** Keepalive interval and probe count were set (the idle time always is). */
  keepaliveProbes: boolean;
  /** TCP_USER_TIMEOUT was set. */
  userTimeout: boolean;
}

let netKeepalive: NetKeepalive | null | undefined;
const reported = new Set<string>();

/** Logs `message` at debug level once per process. */
function debugOnce(logger: Logger, message: string, reason: string): void {
  if (reported.has(message)) return;
  reported.add(message);
  logger.debug(message, { reason });
}

function loadNetKeepalive(logger: Logger): NetKeepalive | null {
  if (netKeepalive === undefined) {
    try {
      netKeepalive = requireNetKeepalive();
    } catch (err) {
      netKeepalive = null;
      // Once per process, as a warning: the server then notices a silently dead client only
      // at the kernel's retransmission limit (some 15 minutes on Linux), not within seconds.
      logger.warn(
        'TCP_USER_TIMEOUT and keepalive probes unavailable: a silently dead peer is dropped only at the kernel retransmission limit',
        {
          reason: (err as Error).message,
        },
      );
    }
  }
  return netKeepalive;
}

/**
 * What Node sets without native help: no Nagle delay, keepalive after
 * {@link KEEPALIVE_IDLE_MS} idle (interval and probe count stay the platform's).
 *
 * Enough for the client's control connection, which is why the client never loads
 * `net-keepalive` (loading it costs about 6 MB of resident memory for the life of
 * the process): the server heartbeats every 500 ms and the client machine's
 * heartbeat deadline notices silence within seconds, long before a keepalive probe
 * would, and after the handshake the client writes nothing that TCP_USER_TIMEOUT
 * could bound.
 */
export function setControlSocketBasics(socket: Socket): void {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
}

/**
 * Applies the control-connection options to a connected socket. `userTimeoutMs`
 * (Linux only) bounds how long written data may stay unacknowledged; 0 leaves it.
 * Never throws: what cannot be set is left at the platform default (see the result).
 */
export function tuneControlSocket(socket: Socket, logger: Logger, userTimeoutMs = 0): TuneResult {
  const result: TuneResult = { keepaliveProbes: false, userTimeout: false };
  setControlSocketBasics(socket);
  const lib = loadNetKeepalive(logger);
  if (!lib) return result;
  try {
    lib.setKeepAliveInterval(socket, KEEPALIVE_INTERVAL_MS);
    lib.setKeepAliveProbes(socket, KEEPALIVE_PROBES);
    result.keepaliveProbes = true;
  } catch (err) {
    debugOnce(logger, 'could not set TCP keepalive interval and probes', (err as Error).message);
  }
  if (userTimeoutMs > 0) {
    if (process.platform !== 'linux') {
      debugOnce(
        logger,
        'TCP_USER_TIMEOUT unavailable, dead peers are noticed at the kernel retransmission limit',
        `platform ${process.platform}`,
      );
    } else {
      try {
        lib.setUserTimeout(socket, Math.round(userTimeoutMs));
        result.userTimeout = true;
      } catch (err) {
        debugOnce(logger, 'could not set TCP_USER_TIMEOUT', (err as Error).message);
      }
    }
  }
  return result;
}

/**
 * Undoes {@link tuneControlSocket} on a socket that becomes a data connection: no
 * keepalive, no TCP_USER_TIMEOUT (the kernel's own retransmission limit applies), as
 * on every other data connection. Never throws.
 */
export function clearControlTuning(socket: Socket, logger: Logger): void {
  socket.setKeepAlive(false);
  const lib = process.platform === 'linux' ? loadNetKeepalive(logger) : null;
  if (!lib) return;
  try {
    lib.setUserTimeout(socket, 0);
  } catch (err) {
    debugOnce(logger, 'could not clear TCP_USER_TIMEOUT', (err as Error).message);
  }
}

/** Linux's `IPPROTO_TCP` and `TCP_NOTSENT_LOWAT` (`include/uapi/linux/tcp.h`). */
export const IPPROTO_TCP = 6;
/** See {@link IPPROTO_TCP}. */
export const TCP_NOTSENT_LOWAT = 25;

/**
 * Bounds the bytes the kernel keeps written but not yet sent on `socket` to about
 * `bytes` (TCP_NOTSENT_LOWAT, Linux only): past it the socket is not writable, and
 * further writes wait in Node's queue, where the writer sees them. Without it the
 * kernel's send buffer grows to megabytes on a slow link, and whatever is written next
 * waits behind all of it. True if set; false (nothing changed) elsewhere or where
 * ffi-rs cannot load. Never throws.
 */
export function boundUnsentBytes(socket: Socket, bytes: number): boolean {
  if (process.platform !== 'linux') return false;
  const fd = handleFd(socket);
  const c = fd === undefined ? null : loadLibc();
  return c !== null && c.setsockoptInt(fd!, IPPROTO_TCP, TCP_NOTSENT_LOWAT, bytes) === 0;
}
