/**
 * The server's options, each declared once (see `src/options/table.ts`): the library's
 * `ServerOptions` (of `BoreServer`), their rules and defaults, and `bore server`'s
 * flags all come from this table. Plain values only: the CLI imports it to build its
 * help without loading the server.
 */
import { MAX_POOL_SIZE } from '../protocol/constants.js';
import type { Logger } from '../log/logger.js';
import type { RateLimitOptions } from '../log/rate-limit.js';
import { type Rule, boolean, duration, func, integer, nested, secrets, string, withMethods } from '../options/rules.js';
import type { ServerTlsOptions } from './tls.js';
import type { OptionTable } from '../options/table.js';
import {
  ACCEPT_TIMEOUT_MS,
  AUTH_FAILURE_WINDOW_MS,
  DEFAULT_ACME_DIRECTORY,
  DEFAULT_ACME_HTTP_PORT,
  CLIENT_TIMEOUT_MS,
  DEFAULT_BIND_ADDR,
  DEFAULT_CONTROL_PORT,
  DEFAULT_MAX_PORT,
  DEFAULT_MIN_PORT,
  HANDSHAKE_TIMEOUT_MS,
  IPV6_PREFIX_LENGTH,
  MAX_AUTH_FAILURES,
  MAX_PENDING_PER_TUNNEL,
  MAX_POOL_PER_TUNNEL,
  MAX_TUNNELS_PER_ADDR,
  MIN_CLIENT_TIMEOUT_MS,
} from './defaults.js';

/** `tls`: an object with `cert` and `key`, each a string or a Buffer. */
const tlsRule: Rule<ServerTlsOptions> = Object.assign(
  (name: string, value: unknown) => {
    const ok = (v: unknown) => typeof v === 'string' || Buffer.isBuffer(v);
    const o = value as Partial<ServerTlsOptions> | null;
    if (typeof o !== 'object' || o === null || !ok(o.cert) || !ok(o.key)) {
      throw Object.assign(new TypeError(`${name} must be { cert, key } (PEM strings or Buffers)`), { code: 'ERR_BORE_INVALID_OPTION' });
    }
  },
  { range: { kind: 'other' } as const },
);

/** `tlsSelfSigned`: `true` (the default directory) or a directory. */
const selfSignedRule: Rule<boolean | string> = Object.assign(
  (name: string, value: unknown) => {
    if (value !== true && value !== false && (typeof value !== 'string' || value === '')) {
      const shown = typeof value === 'string' ? "''" : typeof value;
      throw Object.assign(new TypeError(`${name} must be true or a directory, got ${shown}`), { code: 'ERR_BORE_INVALID_OPTION' });
    }
  },
  { range: { kind: 'string', nonEmpty: 'a directory', secret: false } as const },
);

/** `tlsNames`: host names and IP addresses, as a list or one comma-separated string. */
const namesRule: Rule<string | readonly string[]> = Object.assign(
  (name: string, value: unknown) => {
    const ok = typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string'));
    if (!ok) {
      throw Object.assign(new TypeError(`${name} must be a list of host names and IP addresses (or one string, comma-separated)`), {
        code: 'ERR_BORE_INVALID_OPTION',
      });
    }
  },
  { range: { kind: 'string', nonEmpty: 'host names or IP addresses', secret: false } as const },
);

/** A DNS name a CA issues certificates for: dot-separated labels of letters, digits and hyphens, not an IP address. */
const hostNameRule: Rule<string> = Object.assign(
  (name: string, value: unknown) => {
    string('a host name')(name, value);
    const label = '[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?';
    const text = value as string;
    if (text.length > 253 || !new RegExp(`^${label}(?:\\.${label})*\\.?$`).test(text) || /^[0-9.]+$/.test(text)) {
      throw Object.assign(new RangeError(`${name} must be the DNS name clients connect to (e.g. bore.example.com), got '${text}'`), {
        code: 'ERR_BORE_INVALID_OPTION',
      });
    }
  },
  { range: { kind: 'string', nonEmpty: 'a host name', secret: false } as const },
);

/** An ACME directory URL: `https://` (or `http://` for a test CA). */
const directoryUrlRule: Rule<string> = Object.assign(
  (name: string, value: unknown) => {
    string('a URL')(name, value);
    let ok: boolean;
    try {
      ok = ['https:', 'http:'].includes(new URL(value as string).protocol);
    } catch {
      ok = false;
    }
    if (!ok) {
      throw Object.assign(new RangeError(`${name} must be an ACME directory URL (https://...), got '${String(value)}'`), {
        code: 'ERR_BORE_INVALID_OPTION',
      });
    }
  },
  { range: { kind: 'string', nonEmpty: 'a URL', secret: false } as const },
);

/** The options of {@link BoreServer} (the names match the CLI flags; durations in milliseconds). */
export const SERVER_OPTIONS = {
  /** Lowest public port a client may get (default 1024). */
  minPort: {
    rule: integer(1, 65535),
    default: DEFAULT_MIN_PORT,
    flag: 'min-port',
    env: 'BORE_MIN_PORT',
    help: 'Lowest public port clients may get',
  },
  /** Highest public port a client may get (default 65535). */
  maxPort: {
    rule: integer(1, 65535),
    default: DEFAULT_MAX_PORT,
    flag: 'max-port',
    env: 'BORE_MAX_PORT',
    help: 'Highest public port clients may get',
  },
  /**
   * Shared secret clients must prove they know; or several, any of which is accepted
   * (during a rotation). Replace them at run time with {@link BoreServer.setSecret}.
   */
  secret: { rule: secrets, flag: 'secret', alias: 's', env: 'BORE_SECRET', help: 'Secret clients must know' },
  /** Port of the control listener (default 7835; 0 for any). */
  controlPort: {
    rule: integer(0, 65535),
    default: DEFAULT_CONTROL_PORT,
    flag: 'control-port',
    env: 'BORE_CONTROL_PORT',
    help: 'Port of the control listener',
  },
  /** Address of the control listener (default 0.0.0.0). */
  bindAddr: {
    rule: string('a host name or address'),
    default: DEFAULT_BIND_ADDR,
    flag: 'bind-addr',
    help: 'Address of the control listener',
  },
  /** Address of the public listeners (default 0.0.0.0). */
  bindTunnels: {
    rule: string('a host name or address'),
    default: DEFAULT_BIND_ADDR,
    flag: 'bind-tunnels',
    help: 'Address of the public listeners',
  },
  /**
   * Bound on how long a silently dead client keeps its public port (default 15000 ms;
   * Linux TCP_USER_TIMEOUT, elsewhere the kernel's own retransmission limit).
   */
  clientTimeoutMs: {
    rule: duration(MIN_CLIENT_TIMEOUT_MS, true),
    default: CLIENT_TIMEOUT_MS,
    flag: 'client-timeout',
    unit: 'ms',
    help: `Seconds within which a silently dead client is dropped and its port freed (Linux TCP_USER_TIMEOUT; elsewhere the kernel retransmission limit); at least ${MIN_CLIENT_TIMEOUT_MS / 1000}`,
  },
  /** Unclaimed public connections kept per tunnel; at it the tunnel stops accepting until its client claims some (default 1024). */
  maxPendingPerTunnel: {
    rule: integer(1),
    default: MAX_PENDING_PER_TUNNEL,
    flag: 'max-pending',
    help: 'Unclaimed public connections kept per tunnel; at it the tunnel stops accepting (visitors wait in the kernel backlog) until its client claims some',
  },
  /** How long an unclaimed public connection waits for its `Accept` (default 10000 ms). */
  acceptTimeoutMs: { rule: duration(), default: ACCEPT_TIMEOUT_MS, unit: 'ms' },
  /** Deadline for a connection's whole handshake (default 3000 ms). */
  handshakeTimeoutMs: { rule: duration(), default: HANDSHAKE_TIMEOUT_MS, unit: 'ms' },
  /**
   * Tunnels one peer address may hold at once; past it `Hello` is refused with an
   * `Error` (0 for no limit). Default: 16 ({@link MAX_TUNNELS_PER_ADDR}) on a server
   * without a secret, none on one with a secret, whose clients are its operator's own;
   * left out, it follows {@link BoreServer.setSecret}. IPv4-mapped IPv6 counts as the
   * IPv4 address.
   */
  maxTunnelsPerAddr: {
    rule: integer(0),
    flag: 'max-tunnels-per-addr',
    shownDefault: `${MAX_TUNNELS_PER_ADDR}; none with a secret`,
    help: 'Tunnels one client address may hold at once; past it Hello is refused (0: no limit). Without a secret anyone may open tunnels, so the default is a limit; with one the clients are your own, and the default is none',
  },
  /**
   * Failed handshakes (wrong or missing secret, garbage, a timeout after some bytes)
   * from one address within `authFailureWindowMs` after which the address may open no
   * new tunnel for `authFailureWindowMs`; the data connections of its tunnels that are
   * up are still served, and no challenge answer is checked for a new one meanwhile
   * (default 10; 0 disables).
   */
  maxAuthFailures: {
    rule: integer(0),
    default: MAX_AUTH_FAILURES,
    flag: 'max-auth-failures',
    help: 'Failed handshakes (wrong or missing secret, garbage, timeout) from one address within --auth-failure-window after which it may open no new tunnel for as long; its tunnels that are up keep working (0: never)',
  },
  /** Window in which failed handshakes are counted, and length of the cool-down (default 60000 ms). */
  authFailureWindowMs: {
    rule: duration(),
    default: AUTH_FAILURE_WINDOW_MS,
    flag: 'auth-failure-window',
    unit: 'ms',
    help: 'Seconds in which failed handshakes are counted, and length of the cool-down',
  },
  /**
   * IPv6 peers are counted by the first this many bits of their address for the
   * per-address limits (default 64, one subscriber's network; 128: each address).
   */
  ipv6PrefixLength: {
    rule: integer(1, 128),
    default: IPV6_PREFIX_LENGTH,
    flag: 'ipv6-prefix',
    help: 'Bits of an IPv6 address that make one peer for the per-address limits (128: each address)',
  },
  /**
   * Idle pooled data connections a client of this server may keep per tunnel (a larger
   * request gets this many; default 16; 0: no pool is offered, every public connection
   * takes the standard `Connection`/`Accept` path).
   */
  maxPoolPerTunnel: {
    rule: integer(0, MAX_POOL_SIZE),
    default: MAX_POOL_PER_TUNNEL,
    flag: 'max-pool',
    help: 'Idle pooled data connections a bore-ts client may keep per tunnel (a larger request gets this many; 0: no pool, every connection takes the standard path)',
  },
  /** The certificate (PEM, full chain) and key the control port serves TLS with, besides plaintext bore. */
  tls: { rule: tlsRule },
  /** File of the certificate (PEM, full chain); read at construction unless `tls` is given. */
  tlsCert: {
    rule: string('a path'),
    flag: 'tls-cert',
    env: 'BORE_TLS_CERT',
    help: 'Serve TLS on the control port (besides plaintext bore) with this certificate (PEM, full chain); needs --tls-key',
  },
  /** File of the certificate's private key (PEM); read at construction unless `tls` is given. */
  tlsKey: { rule: string('a path'), flag: 'tls-key', env: 'BORE_TLS_KEY', help: "The TLS certificate's private key (PEM)" },
  /**
   * Serve TLS with a self-signed certificate that the server makes on its first start and
   * keeps in this directory (`true`: `$STATE_DIRECTORY`, which systemd's `StateDirectory=`
   * sets, else `$XDG_STATE_HOME/bore` or `~/.local/state/bore`), reused at every later
   * start; its fingerprint is logged for the clients' `--tls-fingerprint`. Excludes
   * `tls`, `tlsCert` and `tlsKey`.
   */
  tlsSelfSigned: {
    rule: selfSignedRule,
    flag: 'tls-self-signed',
    env: 'BORE_TLS_SELF_SIGNED',
    valueOptional: true,
    help: "Serve TLS on the control port with a self-signed certificate made on the first start and kept in DIR (--tls-self-signed or --tls-self-signed=DIR; default $STATE_DIRECTORY, else ~/.local/state/bore); logs its fingerprint for the clients' --tls-fingerprint",
  },
  /**
   * Names the self-signed certificate is made for besides this host's name, `localhost`,
   * 127.0.0.1 and ::1 (host names and IP addresses; a string is comma-separated). A
   * certificate already kept is not changed: the server warns of the names it lacks.
   */
  tlsNames: {
    rule: namesRule,
    flag: 'tls-names',
    env: 'BORE_TLS_NAMES',
    help: "Host names and IP addresses, comma-separated, that --tls-self-signed makes its certificate for besides this host's name and localhost",
  },
  /** Refuse plaintext clients with an `Error` message (default false). */
  requireTls: {
    rule: boolean,
    default: false,
    flag: 'require-tls',
    help: 'Refuse plaintext clients (they get an error telling them to use --tls)',
  },
  /**
   * Get a trusted certificate for this DNS name from an ACME CA (`acmeDirectory`) when
   * the server starts, and renew it at two thirds of its lifetime; `listen()` rejects if
   * none can be had. Means agreeing to the CA's terms of service. Not with `tls` or `tlsCert`.
   */
  tlsAcme: {
    rule: hostNameRule,
    flag: 'tls-acme',
    env: 'BORE_TLS_ACME',
    help: "Serve TLS with a certificate for this DNS name from an ACME CA (Let's Encrypt by default; you agree to its terms of service), got at start and renewed; the CA checks http://NAME/.well-known/acme-challenge/ on port 80 (see --acme-http-port)",
  },
  /** The ACME account's contact address (optional). */
  acmeEmail: {
    rule: string('an email address'),
    flag: 'acme-email',
    env: 'BORE_ACME_EMAIL',
    help: 'Contact address of the ACME account (optional)',
  },
  /** The ACME CA's directory URL (default: Let's Encrypt's production CA). */
  acmeDirectory: {
    rule: directoryUrlRule,
    default: DEFAULT_ACME_DIRECTORY,
    flag: 'acme-directory',
    env: 'BORE_ACME_DIRECTORY',
    help: 'Directory URL of the ACME CA (staging: https://acme-staging-v02.api.letsencrypt.org/directory)',
  },
  /**
   * Port of the HTTP-01 listener, open only while an order is pending (default 80, the
   * port the CA connects to; another one if port 80 is forwarded to it).
   */
  acmeHttpPort: {
    rule: integer(1, 65535),
    default: DEFAULT_ACME_HTTP_PORT,
    flag: 'acme-http-port',
    env: 'BORE_ACME_HTTP_PORT',
    help: 'Port of the ACME HTTP-01 listener, open only while a certificate is being ordered (the CA connects to port 80: forward it here to run without privileges)',
  },
  /**
   * Where the ACME account key and certificates are kept (0700; files 0600), so a
   * restart reuses a valid certificate (default: `$STATE_DIRECTORY/acme` under systemd,
   * else `$XDG_STATE_HOME/bore/acme` or `~/.local/state/bore/acme`).
   */
  acmeDir: {
    rule: string('a path'),
    flag: 'acme-dir',
    env: 'BORE_ACME_DIR',
    shownDefault: '$STATE_DIRECTORY/acme, else ~/.local/state/bore/acme',
    help: 'Directory of the ACME account key and certificates (kept 0700, files 0600) so a restart reuses a valid certificate',
  },
  /** Where to log (default: nowhere); repeated warnings are rate-limited. */
  logger: { rule: withMethods<Logger>('a logger (error, warn, info and debug methods)', ['error', 'warn', 'info', 'debug']) },
  /** The rate limit on repeated warnings (default 10 lines per message per 10 s). */
  logRateLimit: {
    rule: nested<RateLimitOptions>({ burst: integer(1), windowMs: duration(), maxKeys: integer(1), schedule: func }),
  },
  /**
   * Logs one info line per public connection when it ends: visitor, public port, bytes
   * each way, duration and how it ended (default false).
   */
  accessLog: {
    rule: boolean,
    flag: 'access-log',
    shownDefault: 'off',
    help: 'Log one info line per public connection when it ends (visitor, port, bytes, duration, how it ended)',
  },
} as const satisfies OptionTable;
