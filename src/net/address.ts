/** Host and port pairs as people read them in logs and error messages. */
import net from 'node:net';

/**
 * `host:port`, with an IPv6 address in brackets (`[::1]:7835`) so the port stays
 * readable; IPv4 addresses and host names are printed as they are. An IPv6 address is
 * told by its colon (no host name or IPv4 address has one), not by `net.isIPv6`, whose
 * first call compiles Node's IPv6 pattern: 6-7 ms of a client's start.
 */
export function formatHostPort(host: string, port: number | string): string {
  return joinHostPort(host, port, host.includes(':'));
}

function joinHostPort(host: string, port: number | string, ipv6: boolean): string {
  return ipv6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A socket's peer as `host:port` (see {@link formatHostPort}); `?` for what the socket no
 * longer knows. The socket knows its address family: no need to parse the address (a
 * server formats every visitor's).
 */
export function formatPeer(socket: net.Socket): string {
  return joinHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? '?', socket.remoteFamily === 'IPv6');
}
