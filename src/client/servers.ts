/**
 * A tunnel's list of bore servers (`--to a.example.com,b.example.com:7836`, the file's
 * `servers = [...]`, the library's `to: string | string[]`): each entry a host with an
 * optional control port of its own, and (from the file or the library) TLS settings of
 * its own. Plain values only: the CLI imports this module to check `--to`.
 */
import { OPTION_ERROR } from '../options/rules.js';
import { formatHostPort } from '../net/address.js';
import type { TunnelTlsOptions } from './tls.js';

/** One server of a tunnel's list: its host and control port. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

/** A server as the library's `to` list takes it when it has settings of its own: its control port, its TLS (pin or CA). */
export interface ServerOption {
  /** The server's host (no port: that is `controlPort`). */
  host: string;
  /** Its control port (default: the tunnel's `controlPort`). */
  controlPort?: number;
  /** TLS for this server only (as the tunnel's `tls`); without it, the tunnel's TLS settings apply. */
  tls?: boolean | TunnelTlsOptions;
  /** A CA file for this server only; implies TLS. */
  tlsCa?: string;
  /** A fingerprint to pin for this server only; implies TLS. */
  tlsFingerprint?: string;
}

/** What the library's `to` takes: a host, a comma-separated list, or a list of hosts (`host:port` allowed) and {@link ServerOption}s. */
export type ServersOption = string | readonly (string | ServerOption)[];

function optionError(Kind: typeof TypeError | typeof RangeError, message: string): never {
  throw Object.assign(new Kind(message), { code: OPTION_ERROR });
}

/** `host`, `host:port`, `[v6]:port` or a bare IPv6 address, as a host and port (`port` when it gives none). */
export function parseServer(text: string, port: number, name = 'to'): ServerAddress {
  const entry = text.trim();
  const m = /^(\[[^\]]*\]|[^:]*):(\d*)$/.exec(entry);
  const host = (m ? m[1]! : entry).replace(/^\[(.*)\]$/, '$1');
  if (host === '') optionError(RangeError, `${name} must be a host name or address, got '${text}'`);
  if (!m) return { host, port };
  const given = Number(m[2]);
  if (m[2] === '' || !Number.isInteger(given) || given < 1 || given > 65535) {
    optionError(RangeError, `${name} has an invalid control port in '${text}' (expected 1-65535)`);
  }
  return { host, port: given };
}

/** The entries of `to` (a comma-separated string is a list), each a string or a {@link ServerOption}. */
export function serverEntries(to: ServersOption): (string | ServerOption)[] {
  return typeof to === 'string' ? to.split(',') : [...to];
}

/** The servers of `to`, in order; an entry without a port has `controlPort`. Throws an option error naming the bad entry. */
export function serversOf(to: ServersOption, controlPort: number): ServerAddress[] {
  const entries = serverEntries(to);
  if (entries.length === 0) optionError(RangeError, 'to must name at least one server, got an empty list');
  const list = entries.map((entry, i) => {
    const name = typeof to === 'string' ? 'to' : `to[${i}]`;
    if (typeof entry === 'string') return parseServer(entry, controlPort, name);
    return { host: parseServer(entry.host, controlPort, `${name}.host`).host, port: entry.controlPort ?? controlPort };
  });
  const seen = new Set<string>();
  for (const s of list) {
    const key = formatHostPort(s.host, s.port);
    if (seen.has(key)) optionError(RangeError, `to names the server ${key} twice`);
    seen.add(key);
  }
  return list;
}

/** `host:port` of a server, as logs and messages show it. */
export function serverName(server: ServerAddress): string {
  return formatHostPort(server.host, server.port);
}
