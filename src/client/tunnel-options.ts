/**
 * The tunnel's options, each declared once (see `src/options/table.ts`): the library's
 * `TunnelOptions` (of `startTunnel`, and per tunnel of `startTunnels`), their rules and
 * defaults, `bore local`'s flags and the keys of `bore.toml` all come from this table.
 * Plain values only: the CLI imports it to build its help without loading the client.
 */
import type { InspectionEvent, Observer } from 'xstate';
import { CONTROL_PORT, MAX_POOL_SIZE } from '../protocol/constants.js';
import type { Logger } from '../log/logger.js';
import type { RateLimitOptions } from '../log/rate-limit.js';
import {
  type Rule,
  abortSignal,
  boolean,
  duration,
  func,
  functionOrObject,
  integer,
  nested,
  string,
  withMethods,
} from '../options/rules.js';
import type { OptionTable } from '../options/table.js';
import { DEFAULT_MAX_DELAY_MS } from './backoff.js';
import type { TunnelTlsOptions } from './tls.js';
import { type ServersOption, serversOf } from './servers.js';

/**
 * `to`: a server's host, a comma-separated list of them, or a list of hosts (each may
 * carry its control port, `host:port`) and `{ host, controlPort?, tls?, tlsCa?,
 * tlsFingerprint? }`; a string on the command line (`--to a,b:7836`) and in the file
 * (`to`), a list in the file (`servers`).
 */
const serversRule: Rule<ServersOption> = Object.assign(
  (name: string, value: unknown) => {
    if (Array.isArray(value)) {
      value.forEach((entry: unknown, i) => {
        if (typeof entry === 'string') return;
        const o = entry as Record<string, unknown> | null;
        if (typeof o !== 'object' || o === null || typeof o.host !== 'string')
          throw Object.assign(new TypeError(`${name}[${i}] must be a host or { host, controlPort?, tls?, tlsCa?, tlsFingerprint? }`), {
            code: 'ERR_BORE_INVALID_OPTION',
          });
        if (o.controlPort !== undefined) integer(1, 65535)(`${name}[${i}].controlPort`, o.controlPort);
        if (o.tls !== undefined) tlsRule(`${name}[${i}].tls`, o.tls);
        for (const key of ['tlsCa', 'tlsFingerprint']) if (o[key] !== undefined) string('a string')(`${name}[${i}].${key}`, o[key]);
      });
    } else string('a host name or address')(name, value);
    serversOf(value as ServersOption, CONTROL_PORT);
  },
  { range: { kind: 'string', nonEmpty: 'a host name or address', secret: false } as const },
);

/** `tls`: `true`/`false`, or `{ ca?, fingerprint?, servername? }`; a boolean flag and key on the command line and in the file. */
const tlsRule: Rule<boolean | TunnelTlsOptions> = Object.assign(
  (name: string, value: unknown) => {
    if (typeof value === 'boolean') return;
    const o = value as Record<string, unknown> | null;
    const text = (v: unknown) => v === undefined || typeof v === 'string';
    if (typeof o !== 'object' || o === null || !(text(o.ca) || Buffer.isBuffer(o.ca)) || !text(o.fingerprint) || !text(o.servername)) {
      throw Object.assign(new TypeError(`${name} must be true, false or { ca?, fingerprint?, servername? }`), {
        code: 'ERR_BORE_INVALID_OPTION',
      });
    }
  },
  { range: { kind: 'boolean' } as const },
);

/** The methods a logger must have. */
const LOGGER_METHODS = ['error', 'warn', 'info', 'debug'];

/** The options of a tunnel (the library's names; durations in milliseconds). */
export const TUNNEL_OPTIONS = {
  /** Port of the local service to expose. */
  localPort: { rule: integer(1, 65535), required: true, env: 'BORE_LOCAL_PORT', config: 'local_port' },
  /** Address of the bore server. */
  /**
   * Address of the bore server, or several to fail over between, tried in order
   * (`'a.example.com,b.example.com:7836'` or a list; see `ServersOption`).
   */
  to: {
    rule: serversRule,
    required: true,
    flag: 'to',
    alias: 't',
    env: 'BORE_SERVER',
    config: 'to',
    configList: 'servers',
    help: 'Address of the bore server {env} (required); several, comma-separated (a.example.com,b.example.com:7836), to fail over between in order',
  },
  /** Host of the local service (default `localhost`). */
  localHost: {
    rule: string('a host name or address'),
    default: 'localhost',
    flag: 'local-host',
    alias: 'l',
    config: 'local_host',
    help: 'Host of the local service',
  },
  /** Public port to ask for (default 0: any). */
  port: {
    rule: integer(0, 65535),
    default: 0,
    flag: 'port',
    alias: 'p',
    env: 'BORE_PORT',
    config: 'remote_port',
    help: 'Public port to ask for; 0 asks for any {env}. With several mappings, use LOCAL_PORT:REMOTE_PORT instead',
  },
  /** Secret shared with the server. */
  secret: {
    rule: string(undefined, true),
    flag: 'secret',
    alias: 's',
    env: 'BORE_SECRET',
    config: 'secret',
    help: 'Secret shared with the server',
  },
  /**
   * File holding the secret (its first line), read at every connection attempt so a
   * rotated secret is used without a restart; instead of `secret`.
   */
  secretFile: {
    rule: string('a path'),
    flag: 'secret-file',
    env: 'BORE_SECRET_FILE',
    config: 'secret_file',
    help: 'File holding the secret (its first line), re-read at every connection attempt; instead of --secret',
  },
  /** Server control port (default 7835). */
  controlPort: {
    rule: integer(1, 65535),
    default: CONTROL_PORT,
    flag: 'control-port',
    env: 'BORE_CONTROL_PORT',
    config: 'control_port',
    help: "Server's control port",
  },
  /** Milliseconds without a server message before the connection counts as lost (default 8000). */
  heartbeatTimeoutMs: {
    rule: duration(),
    default: 8000,
    flag: 'heartbeat-timeout',
    config: 'heartbeat_timeout',
    unit: 'ms',
    help: 'Seconds without a message from the server before the connection counts as lost',
  },
  /** Cap on the reconnect delay, ms (default 64000). */
  maxReconnectDelayMs: {
    rule: duration(),
    default: DEFAULT_MAX_DELAY_MS,
    flag: 'max-reconnect-delay',
    config: 'max_reconnect_delay',
    unit: 'ms',
    help: 'Longest wait between reconnect attempts, seconds',
  },
  /** Reconnect after a loss (default true). */
  reconnect: {
    rule: boolean,
    default: true,
    flag: 'reconnect',
    config: 'reconnect',
    help: 'Reconnect after a loss; --no-reconnect exits with status 4 instead',
  },
  /** Retry the first attempt too (default false: a first failure ends the tunnel). */
  retryFirst: {
    rule: boolean,
    default: false,
    flag: 'retry-first',
    config: 'retry_first',
    help: 'Keep retrying when the very first attempt fails (for services started at boot)',
  },
  /** With several servers: return to the first once it has answered for a while (default false: stay on the one that works). */
  preferFirst: {
    rule: boolean,
    default: false,
    flag: 'prefer-first',
    config: 'prefer_first',
    help: 'With several servers in --to: return to the first once it has answered for 10 s (open connections finish on the other)',
  },
  /** Uptime after which the backoff schedule starts over, ms (default 10000). */
  stableAfterMs: { rule: duration(0, true), default: 10_000, unit: 'ms' },
  /** How long `stop()` lets in-flight connections finish, ms (default 2000). */
  drainTimeoutMs: {
    rule: duration(0, true),
    default: 2000,
    flag: 'drain-timeout',
    config: 'drain_timeout',
    unit: 'ms',
    help: 'On SIGINT/SIGTERM, seconds to let open connections finish (a second signal skips the wait)',
  },
  /**
   * Encrypt every connection to the server with TLS 1.3 (default false): `true` verifies
   * the server's certificate against the system's CAs and the name `to`; an object
   * gives a private CA (PEM), pins a SHA-256 fingerprint (then CA and name are not
   * checked) or the name to verify. Never falls back to plaintext.
   */
  tls: {
    rule: tlsRule,
    flag: 'tls',
    config: 'tls',
    shownDefault: 'off',
    help: "Encrypt the tunnel's connections to the server with TLS 1.3, verifying its certificate (system CAs and the --to name); never falls back to plaintext",
  },
  /** File of a private CA (PEM) to verify the server's certificate with; implies `tls`. */
  tlsCa: {
    rule: string('a path'),
    flag: 'tls-ca',
    config: 'tls_ca',
    help: "Verify the server's certificate with this CA (PEM file) instead of the system's; implies --tls",
  },
  /** The server certificate's SHA-256 fingerprint (`sha256:HEX`) to pin instead of verifying CA and name; implies `tls`. */
  tlsFingerprint: {
    rule: string('a fingerprint'),
    flag: 'tls-fingerprint',
    config: 'tls_fingerprint',
    help: 'Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX) instead of checking CA and name; implies --tls',
  },
  /** Where to log (default: nowhere); repeated warnings are rate-limited. */
  logger: { rule: withMethods<Logger>('a logger (error, warn, info and debug methods)', LOGGER_METHODS) },
  /** The rate limit on repeated warnings (default 10 lines per message per 10 s). */
  logRateLimit: {
    rule: nested<RateLimitOptions>({ burst: integer(1), windowMs: duration(), maxKeys: integer(1), schedule: func }),
  },
  /** XState inspection hook (the inspector uses it). */
  inspect: { rule: functionOrObject<Observer<InspectionEvent> | ((event: InspectionEvent) => void)>() },
  /** Aborting it stops the tunnel as `stop()` does; an already-aborted signal stops it at once. */
  signal: { rule: abortSignal },
  /**
   * Idle data connections to keep open to a bore-ts server, so a new public connection
   * needs no round trip between client and server (default 4; 0: none). A server that
   * does not offer a pool (the Rust bore) is used the standard way.
   */
  pool: {
    rule: integer(0, MAX_POOL_SIZE),
    default: 4,
    flag: 'pool',
    env: 'BORE_POOL',
    config: 'pool',
    help: 'Idle data connections kept open to a bore-ts server so a new visitor needs no round trip between client and server (0: none; a Rust bore server is used the standard way)',
  },
  /**
   * Visitors the warm pool cannot take at once (a burst larger than the pool) ride one
   * multiplexed connection to a bore-ts server instead of the standard path's round trip
   * and new connection each (default true; false: the standard path). Needs the pool's
   * offer (a `pool` of 1 or more); a Rust server is used as without.
   */
  mux: {
    rule: boolean,
    default: true,
    flag: 'mux',
    env: 'BORE_MUX',
    config: 'mux',
    help: 'Visitors the pool cannot take at once ride one multiplexed connection to a bore-ts server instead of a round trip each (--no-mux: the standard path)',
  },
  /**
   * Every visitor rides the multiplexed connection, none a pooled one (default false): no
   * TCP or TLS handshake between client and server per visitor, for many short
   * connections (a bulk transfer on loopback moves about 85 % as fast as on a pooled one,
   * and every visitor shares one TCP connection).
   */
  muxFirst: {
    rule: boolean,
    default: false,
    flag: 'mux-first',
    env: 'BORE_MUX_FIRST',
    config: 'mux_first',
    help: 'Every visitor rides the multiplexed connection (no handshake per visitor: for many short connections; bulk is a little faster without)',
  },
} as const satisfies OptionTable;
