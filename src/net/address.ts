/** Host and port pairs as people read them in logs and error messages. */
import net from 'node:net';

/**
 * `host:port`, with an IPv6 address in brackets (`[::1]:7835`) so the port stays
 * readable; IPv4 addresses and host names are printed as they are.
 */
export function formatHostPort(host: string, port: number | string): string {
  return joinHostPort(host, port, net.isIPv6(host));
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
