/**
 * The bore server: a control listener that opens a public port per client, announces
 * each public connection with `Connection(id)` and joins it to the data connection
 * that answers with `Accept(id)`. Wire-compatible with bore-cli 0.5 clients.
 *
 * Unlike the Rust server it bounds what a peer can cost: the whole handshake must fit
 * in 3 s, unclaimed public connections are capped per tunnel, and a silently dead
 * client is dropped within `clientTimeoutMs` (its heartbeats stay unacknowledged and
 * TCP_USER_TIMEOUT fails the socket), which frees its public port at once. Per peer
 * address (an IPv6 address by its /64) it caps the tunnels, and after too many failed
 * handshakes refuses the address's new tunnels for a cool-down, while the data
 * connections of its tunnels that are up keep working (see `peer-limits.ts` and
 * `handshake.ts`).
 */
import net, { type Server } from 'node:net';
import { EventEmitter, once } from 'node:events';
import { join } from 'node:path';
import type { AcmeSettings } from './acme.js';
import { defaultStateDir } from '../system/state-dir.js';
import type { ServerTlsOptions } from './tls.js';
import { type CertificateInfo, ServerCertificate } from './certificate.js';
import { type CertificateSource, certificateSource } from './certificate-source.js';
import { CertificateWatch, certificateFields } from './certificate-watch.js';
import { Authenticator } from '../protocol/auth.js';
import { drainSockets } from '../net/drain.js';
import { silentLogger } from '../log/logger.js';
import { type RateLimitedLogger, rateLimited } from '../log/rate-limit.js';
import { PendingConnections } from './pending.js';
import { LISTEN_BACKLOG } from './ports.js';
import { OPTION_ERROR, type Rules, checkOptions } from '../options/rules.js';
import { type OptionsOf, defaultsOf, rulesOf } from '../options/table.js';
import { SERVER_OPTIONS } from './options.js';
import { PeerLimits } from './peer-limits.js';
import type { ServerEvents } from './events.js';
import { type ServerCounters, ServerBooks } from './books.js';
import { Sessions } from './sessions.js';
import { DRAIN_TIMEOUT_MS, MAX_TUNNELS_PER_ADDR } from './defaults.js';
import { CLOSE_TEXT } from './reasons.js';
import { ephemeralOverlap } from './ephemeral.js';

/** The public listeners' port tries, backlog and error texts by name (defined in `ports.ts`). */
export { LISTEN_BACKLOG, PORT_TRIES, ServerErrors } from './ports.js';
/** The heartbeat and the control connection's backlog limit (defined in `tunnel.ts`). */
export { HEARTBEAT_INTERVAL_MS, MAX_CONTROL_BACKLOG } from './tunnel.js';
/** The defaults of {@link ServerOptions} (defined in `defaults.ts`). */
export {
  ACCEPT_TIMEOUT_MS,
  CLIENT_TIMEOUT_MS,
  CLIENT_TIMEOUT_SLACK_MS,
  DEFAULT_CONTROL_PORT,
  DRAIN_TIMEOUT_MS,
  HANDSHAKE_TIMEOUT_MS,
  MAX_PENDING_PER_TUNNEL,
  MAX_POOL_PER_TUNNEL,
} from './defaults.js';

/** The events of {@link BoreServer} and their payloads (defined in `events.ts`). */
export type { ConnectionClosedEvent, ConnectionEvent, ServerEvents, TunnelClosedEvent, TunnelOpenedEvent } from './events.js';
/** The running totals of {@link BoreServer.counters} (defined in `books.ts`). */
export type { ServerCounters } from './books.js';

/** Options of {@link BoreServer}; the names match the CLI flags (declared in `options.ts`). */
export type ServerOptions = OptionsOf<typeof SERVER_OPTIONS>;

/** The rules of {@link ServerOptions}, checked by the {@link BoreServer} constructor (see `options/rules.ts`). */
const SERVER_RULES: Rules<ServerOptions> = rulesOf(SERVER_OPTIONS);

/** What the server runs with: each option that has a default, filled in. */
type ServerSettings = Required<
  Omit<
    ServerOptions,
    | 'secret'
    | 'maxTunnelsPerAddr'
    | 'logger'
    | 'logRateLimit'
    | 'accessLog'
    | 'tls'
    | 'tlsCert'
    | 'tlsKey'
    | 'tlsSelfSigned'
    | 'tlsNames'
    | 'tlsAcme'
    | 'acmeEmail'
    | 'acmeDir'
  >
>;

/** The table's defaults, taken by every setting a caller leaves out. */
const SERVER_DEFAULTS: ServerSettings = defaultsOf(SERVER_OPTIONS);

/** Counts of what a server holds, for tests and benchmarks. */
export interface ServerStats {
  /** Tunnels (clients with a public port) open. */
  tunnels: number;
  /** Public connections waiting for their client's `Accept`. */
  pending: number;
  /** Control-port connections still in their handshake. */
  handshaking: number;
  /** Sockets of claimed public connections (two per connection while both are open). */
  proxiedSockets: number;
  /** Idle pooled data connections, over all tunnels. */
  pooled: number;
  /** Of the open tunnels, those whose control connection is TLS. */
  tlsTunnels: number;
}

/**
 * The cap on tunnels per address: `maxTunnelsPerAddr` if given, else none with a secret
 * (the clients are the operator's own) and {@link MAX_TUNNELS_PER_ADDR} without one.
 */
function tunnelCap(given: number | undefined, auth: Authenticator | undefined): number {
  return given ?? (auth ? 0 : MAX_TUNNELS_PER_ADDR);
}

/** The authenticator of the option `secret`, if it holds a secret. */
function authenticator(secret: string | readonly string[] | undefined): Authenticator | undefined {
  return secret === undefined || secret === '' ? undefined : new Authenticator(secret);
}

/** The ACME settings of the options, if `tlsAcme` is given; the state directory defaults to `<state dir>/acme`. */
function acmeSettingsOf(options: ServerOptions, settings: ServerSettings): AcmeSettings | undefined {
  if (options.tlsAcme === undefined) return undefined;
  const other = (['tls', 'tlsCert', 'tlsSelfSigned'] as const).find((key) => options[key] !== undefined && options[key] !== false);
  if (other) {
    throw Object.assign(new RangeError(`tlsAcme and ${other} are two sources of the certificate: give one`), { code: OPTION_ERROR });
  }
  return {
    hostname: options.tlsAcme,
    email: options.acmeEmail,
    directoryUrl: settings.acmeDirectory,
    httpPort: settings.acmeHttpPort,
    stateDir: options.acmeDir ?? join(defaultStateDir(), 'acme'),
  };
}

/**
 * A running bore server; an `EventEmitter` of {@link ServerEvents} (`tunnelOpened`,
 * `tunnelClosed`, `connection`, `connectionClosed`, `error`).
 */
export class BoreServer extends EventEmitter<ServerEvents> {
  readonly #opts: ServerSettings;
  readonly #log: RateLimitedLogger;
  readonly #pending: PendingConnections;
  readonly #control: Server;
  readonly #books: ServerBooks;
  /** The control connections in their handshake and the open tunnels. */
  readonly #sessions: Sessions;
  /** The expiry warnings of the certificate. */
  readonly #watch: CertificateWatch;
  /** Where the certificate comes from: made at start if it is to be made; says what a start says of it. */
  readonly #source: CertificateSource;
  /** The ACME settings (option `tlsAcme`), if the certificate comes from an ACME CA. */
  readonly #acmeSettings: AcmeSettings | undefined;
  /** The per-address limits. */
  readonly #limits: PeerLimits;
  /** The option `maxTunnelsPerAddr`, if given (else the cap follows the secret). */
  readonly #maxTunnelsGiven: number | undefined;
  /** The ACME renewals, once `listen()` has the first certificate. */
  #acme: { stop(): Promise<void> } | undefined;
  #closing = false;

  /** Throws a `TypeError` or `RangeError` (naming the option and its value) if an option is invalid. */
  constructor(options: ServerOptions = {}) {
    super();
    checkOptions(SERVER_RULES, options, 'BoreServer');
    // Each setting the caller left out takes the table's default.
    const pick = (key: keyof ServerSettings) => [key, options[key] ?? SERVER_DEFAULTS[key]];
    this.#opts = Object.fromEntries((Object.keys(SERVER_DEFAULTS) as (keyof ServerSettings)[]).map(pick)) as ServerSettings;
    if (this.#opts.minPort > this.#opts.maxPort) {
      const message = `empty port range: minPort ${this.#opts.minPort} is above maxPort ${this.#opts.maxPort}`;
      throw Object.assign(new RangeError(message), { code: OPTION_ERROR });
    }
    this.#maxTunnelsGiven = options.maxTunnelsPerAddr;
    const auth = authenticator(options.secret);
    const limits = new PeerLimits({
      maxTunnels: tunnelCap(options.maxTunnelsPerAddr, auth),
      maxFailures: this.#opts.maxAuthFailures,
      windowMs: this.#opts.authFailureWindowMs,
      ipv6PrefixLength: this.#opts.ipv6PrefixLength,
    });
    this.#log = rateLimited(options.logger ?? silentLogger, options.logRateLimit);
    const books = new ServerBooks(this, this.#log, options.accessLog ?? false);
    this.#books = books;
    this.#pending = new PendingConnections(
      { maxPerTunnel: this.#opts.maxPendingPerTunnel, expiryMs: this.#opts.acceptTimeoutMs },
      this.#log,
      books.accessLog ? (conn) => books.unclaimed(conn) : undefined,
    );
    this.#limits = limits;
    this.#sessions = new Sessions(this.#opts, limits, this.#pending, books, this.#log);
    this.#sessions.auth = auth;
    // Two sources of the certificate are refused before either file is read.
    this.#acmeSettings = acmeSettingsOf(options, this.#opts);
    const source = certificateSource(options);
    this.#source = source;
    this.#sessions.tls = source.certificate;
    const renew = this.#acmeSettings ? 'it is renewed by ACME: see the log for renewal failures' : source.renew;
    this.#watch = new CertificateWatch(this.#log, () => this.certificate, renew);
    if (this.#opts.requireTls && !this.#sessions.tls && !options.tlsSelfSigned && !this.#acmeSettings) {
      throw Object.assign(new RangeError('requireTls needs a certificate (tls, tlsCert and tlsKey, tlsSelfSigned or tlsAcme)'), {
        code: OPTION_ERROR,
      });
    }
    this.#control = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      const addr = socket.remoteAddress;
      // One whose address is unknown has already gone.
      if (this.#closing || addr === undefined) socket.destroy();
      else this.#sessions.handle(socket, addr);
    });
  }

  /**
   * Starts listening on the control port. Resolves with the port actually bound. With
   * `tlsSelfSigned` on a first start, makes the certificate first (rejects with an
   * option error if it cannot be kept); with `tlsAcme`, first gets the certificate
   * (stored or new; see `acme.ts`): rejects with an error of code `ERR_BORE_ACME` that
   * says why if there is none.
   */
  async listen(): Promise<number> {
    // A self-signed certificate is made here, off the constructor: it loads the X.509 encoder.
    this.#sessions.tls ??= await this.#source.ready();
    if (this.#acmeSettings && !this.#acme) {
      // acme-client (and its HTTP and X.509 libraries) is loaded only by a server that uses it.
      const { AcmeCertificates } = await import('./acme.js');
      this.#acme = await AcmeCertificates.start(this.#acmeSettings, (pem) => this.setCertificate(pem), this.#log);
      if (this.#closing) {
        await this.#acme.stop();
        throw new Error('the server was closed while it got its certificate');
      }
    }
    this.#control.listen({ port: this.#opts.controlPort, host: this.#opts.bindAddr, backlog: LISTEN_BACKLOG });
    await once(this.#control, 'listening');
    // From now on a listener error (such as EMFILE on accept) is the server's own: logged,
    // and emitted as `error` when someone listens; the listener keeps accepting.
    this.#control.on('error', (err) => this.#books.serverError('control listener error', err));
    const port = this.port;
    this.#log.info('server listening', {
      addr: this.#opts.bindAddr,
      port,
      minPort: this.#opts.minPort,
      maxPort: this.#opts.maxPort,
      auth: Boolean(this.#sessions.auth),
      tls: this.#sessions.tls ? (this.#opts.requireTls ? 'required' : 'on') : 'off',
      ...(this.#acmeSettings ? { acme: this.#acmeSettings.hostname } : {}),
    });
    this.#announceEphemeral();
    this.#source.announce(this.#log);
    this.#watch.start();
    return port;
  }

  /** Says once (info) that the public port range overlaps the kernel's ephemeral ports, where it does (Linux). */
  #announceEphemeral(): void {
    const { minPort, maxPort } = this.#opts;
    const overlap = ephemeralOverlap(minPort, maxPort);
    if (!overlap) return;
    this.#log.info(
      `public ports ${overlap.min}-${overlap.max} are also the kernel's ephemeral ports (net.ipv4.ip_local_port_range): a client asking for a fixed port there can be refused as in use while an outgoing connection holds it (move either range: see docs/operations.md)`,
      { minPort, maxPort, ephemeralMin: overlap.min, ephemeralMax: overlap.max },
    );
  }

  /**
   * Replaces the secrets clients must prove they know (the option `secret`'s forms;
   * `undefined` or `''`: none). Tunnels that are up stay; their data connections and new
   * tunnels are checked against the new secrets. Unless `maxTunnelsPerAddr` was given,
   * the cap on tunnels per address follows: none with a secret, 16 without. Throws a `TypeError` or `RangeError`
   * for a bad value, as the constructor does.
   */
  setSecret(secret: string | readonly string[] | undefined): void {
    checkOptions({ secret: SERVER_RULES.secret }, { secret }, 'BoreServer.setSecret');
    this.#sessions.auth = authenticator(secret);
    this.#limits.maxTunnels = tunnelCap(this.#maxTunnelsGiven, this.#sessions.auth);
  }

  /**
   * Serves TLS with `pem` (certificate with its chain, key) from the next connection on;
   * connections and tunnels that are up keep theirs. On a server started without a
   * certificate this turns TLS on. Logs the new fingerprint and expiry (and warns if it
   * expires soon). Throws (and keeps the current certificate) if `pem` is invalid.
   */
  setCertificate(pem: ServerTlsOptions): void {
    if (this.#sessions.tls) this.#sessions.tls.replace(pem);
    else this.#sessions.tls = new ServerCertificate(pem);
    this.#log.info('TLS certificate replaced', certificateFields(this.#sessions.tls.info));
    this.#watch.check();
  }

  /** The current certificate's subject, names, fingerprint and expiry; undefined without TLS. */
  get certificate(): CertificateInfo | undefined {
    return this.#sessions.tls?.info;
  }

  /** The control port, once listening. */
  get port(): number {
    return (this.#control.address() as net.AddressInfo).port;
  }

  /** Number of tunnels (clients with a public port) currently open. */
  get tunnelCount(): number {
    return this.#sessions.tunnels;
  }

  /** What the server currently holds. */
  get stats(): ServerStats {
    return {
      tunnels: this.#sessions.tunnels,
      pending: this.#pending.size,
      handshaking: this.#sessions.handshaking,
      proxiedSockets: this.#books.proxiedSockets,
      pooled: this.#sessions.pooled,
      tlsTunnels: this.#sessions.tlsTunnels,
    };
  }

  /** Running totals since start (connections, bytes, failed handshakes by reason). */
  get counters(): ServerCounters {
    return this.#books.counters(this.#pending);
  }

  /** Whether the control listener is up and the server is not shutting down. */
  get listening(): boolean {
    return this.#control.listening && !this.#closing;
  }

  /** The port range clients get ports from. */
  get portRange(): { minPort: number; maxPort: number } {
    return { minPort: this.#opts.minPort, maxPort: this.#opts.maxPort };
  }

  /**
   * Stops accepting, closes handshaking and control connections, public listeners and
   * unclaimed public connections at once, then gives the proxied connections up to
   * `drainMs` to finish before destroying them.
   */
  async close(drainMs = DRAIN_TIMEOUT_MS): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#watch.stop();
    const acmeStopped = this.#acme?.stop();
    this.#control.close();
    this.#sessions.close(CLOSE_TEXT.shutdown);
    const proxied = this.#books.proxied();
    if (proxied.length > 0) {
      this.#log.info('draining connections', { count: proxied.length / 2, drainMs });
      const cut = await drainSockets(proxied, drainMs);
      if (cut > 0) this.#log.warn('drain timed out, closing connections', { count: cut / 2 });
    }
    await acmeStopped;
    this.#log.flush();
    this.#log.info('server stopped');
  }

  /** `await using server = new BoreServer(...)`: closes it (as {@link BoreServer.close}) at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
