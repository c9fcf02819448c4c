/**
 * `tlsAcme` (`bore server --tls-acme HOST`): the server gets a trusted certificate from
 * an ACME CA (Let's Encrypt by default) before it listens, and renews it at two thirds
 * of its lifetime (`acme-schedule.ts`), handing each to `BoreServer.setCertificate`: new
 * connections take it, tunnels that are up keep theirs.
 *
 * Challenge: HTTP-01, answered by a listener on `--acme-http-port` (80) opened only while
 * an order is pending (`acme-http.ts`). Let's Encrypt validates HTTP-01 on port 80 and
 * TLS-ALPN-01 on port 443 only, and bore's control port is 7835: TLS-ALPN-01 would work
 * only for a server run on port 443, and on a port shared with bore clients. HTTP-01
 * works whatever the control port, needs port 80 only for the seconds of an order (so a
 * web server that holds it can forward `/.well-known/acme-challenge/` instead), and port
 * 80 can be forwarded to an unprivileged `--acme-http-port`. DNS-01 would need a DNS
 * provider's API for each provider.
 *
 * State (`acme-store.ts`): the account key and the certificate with its key, files 0600
 * in a 0700 directory, so a restart serves the stored certificate instead of ordering
 * again (the CA's rate limits). A certificate due for renewal at start is renewed then;
 * if that fails while it is still valid it is served and the renewal retried.
 *
 * Failures: at start, with no valid certificate, {@link AcmeCertificates.start} rejects
 * with an {@link AcmeError} (the server does not start: a server told to serve TLS does
 * not silently serve plaintext only). A renewal that fails is logged with its cause and
 * retried with a backoff; the current certificate stays.
 */
import { nodeCrypto } from '../protocol/on-demand.js';
import type { Logger } from '../log/logger.js';
import { certificateInfo } from './certificate.js';
import { AcmeStore } from './acme-store.js';
import { Http01Responder } from './acme-http.js';
import type { OrderSettings } from './acme-order.js';
import { AcmeError } from './acme-error.js';
import { renewalTime, retryDelayMs } from './acme-schedule.js';
import type { ServerTlsOptions } from './tls.js';
import { MAX_TIMER_MS } from '../options/rules.js';

export { ACME_ERROR, AcmeError } from './acme-error.js';

/** What {@link AcmeCertificates} needs: the order's settings and where state is kept. */
export interface AcmeSettings extends OrderSettings {
  /** The ACME state directory (one folder per CA inside). */
  stateDir: string;
  /** Address of the HTTP-01 responder (default: every address, IPv4 and IPv6). */
  httpHost?: string | undefined;
}

/** A certificate and key as PEM text. */
type Pem = { cert: string; key: string };

/** When `cert` became valid and when it expires. */
function lifetime(cert: string): { notBefore: Date; notAfter: Date } {
  const leaf = new (nodeCrypto().X509Certificate)(cert);
  return { notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo) };
}

/** The certificate of a server with `tlsAcme`: got or reused at start, renewed until {@link AcmeCertificates.stop}. */
export class AcmeCertificates {
  readonly #settings: AcmeSettings;
  readonly #store: AcmeStore;
  readonly #responder: Http01Responder;
  readonly #apply: (pem: ServerTlsOptions) => void;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #notAfter = new Date(0);
  #stopped = false;

  private constructor(settings: AcmeSettings, apply: (pem: ServerTlsOptions) => void, log: Logger) {
    this.#settings = settings;
    this.#store = new AcmeStore(settings.stateDir, settings.directoryUrl);
    this.#responder = new Http01Responder(settings.httpPort, settings.httpHost);
    this.#apply = apply;
    this.#log = log;
  }

  /**
   * Serves (through `apply`) the stored certificate of the host name if it is not due
   * for renewal, else a new one; rejects with an {@link AcmeError} if there is none valid.
   */
  static async start(settings: AcmeSettings, apply: (pem: ServerTlsOptions) => void, log: Logger): Promise<AcmeCertificates> {
    const self = new AcmeCertificates(settings, apply, log);
    await self.#start();
    return self;
  }

  async #start(): Promise<void> {
    const { hostname } = this.#settings;
    let stored: Pem | undefined;
    try {
      stored = this.#store.certificate(hostname);
    } catch (err) {
      throw new AcmeError(`cannot read the ACME state in ${this.#store.dir}: ${(err as Error).message}`, { cause: err });
    }
    if (stored) {
      const { notBefore, notAfter } = lifetime(stored.cert);
      const now = Date.now();
      if (now < renewalTime(notBefore, notAfter).getTime()) {
        this.#serve(stored, `certificate for ${hostname} reused from ${this.#store.dir}`);
        return;
      }
      if (now < notAfter.getTime()) {
        // Due for renewal but still valid: renew now, and serve it meanwhile if that fails.
        try {
          this.#serve(await this.#order(), `certificate for ${hostname} renewed`);
        } catch (err) {
          this.#serve(stored, `certificate for ${hostname} reused from ${this.#store.dir}, due for renewal`);
          this.#failed(err);
        }
        return;
      }
    }
    this.#log.info(`ordering a certificate for ${hostname}`, { directory: this.#settings.directoryUrl, httpPort: this.#settings.httpPort });
    this.#serve(await this.#order(), `certificate for ${hostname} obtained`);
  }

  /** A new certificate from the CA, stored; throws an {@link AcmeError}. */
  async #order(): Promise<Pem> {
    // acme-client (with its HTTP and X.509 libraries, some 20 MB) is loaded at the first order: a
    // server that reuses its stored certificate loads it only when the renewal comes.
    const { orderCertificate } = await import('./acme-order.js').catch((err: unknown) => {
      // An optional peer dependency of the library (the CLI's bundle has it inside).
      if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND' || !String(err).includes('acme-client')) throw err;
      throw new AcmeError('tlsAcme needs the acme-client package: npm install acme-client', { cause: err });
    });
    const pem = await orderCertificate(this.#settings, this.#store, this.#responder);
    try {
      this.#store.saveCertificate(this.#settings.hostname, pem);
    } catch (err) {
      // Served all the same; a restart would have to order again.
      this.#log.error(`cannot store the certificate in ${this.#store.dir}: ${(err as Error).message}; a restart will order a new one`);
    }
    return pem;
  }

  /** Hands `pem` to the server, logs `message` with its facts, and schedules its renewal. */
  #serve(pem: Pem, message: string): void {
    this.#apply(pem);
    const { notBefore, notAfter } = lifetime(pem.cert);
    const info = certificateInfo(pem.cert);
    const renewAt = renewalTime(notBefore, notAfter);
    this.#notAfter = notAfter;
    this.#failures = 0;
    this.#log.info(message, {
      issuer: info.issuer,
      fingerprint: info.fingerprint,
      validTo: notAfter.toISOString(),
      renewAt: renewAt.toISOString(),
    });
    this.#schedule(renewAt.getTime());
  }

  /** Runs a renewal at `at` (a date past {@link MAX_TIMER_MS} is reached in steps). */
  #schedule(at: number): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    const delay = Math.max(0, at - Date.now());
    this.#timer = setTimeout(() => (delay > MAX_TIMER_MS ? this.#schedule(at) : void this.#renew()), Math.min(delay, MAX_TIMER_MS));
    // The server's listeners keep the process alive, not this timer.
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    this.#log.info(`renewing the certificate for ${this.#settings.hostname}`, { validTo: this.#notAfter.toISOString() });
    let pem: Pem;
    try {
      pem = await this.#order();
    } catch (err) {
      if (!this.#stopped) this.#failed(err);
      return;
    }
    if (this.#stopped) return;
    try {
      this.#serve(pem, `certificate for ${this.#settings.hostname} renewed`);
    } catch (err) {
      this.#failed(err);
    }
  }

  /** Logs a failed renewal and schedules the next try; the current certificate stays. */
  #failed(err: unknown): void {
    this.#failures += 1;
    const delay = retryDelayMs(this.#failures, this.#notAfter);
    const expired = this.#notAfter.getTime() <= Date.now();
    this.#log.error(
      `certificate renewal failed: ${(err as Error).message}; ${expired ? 'the current certificate has EXPIRED' : 'keeping the current certificate'}, retrying in ${Math.round(delay / 1000)} s`,
      { failures: this.#failures, validTo: this.#notAfter.toISOString() },
    );
    this.#schedule(Date.now() + delay);
  }

  /** Stops renewing and closes the HTTP-01 listener if an order is under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#responder.shutdown();
  }
}
