/**
 * What the server says of its certificate: its fingerprint and expiry when it starts
 * and when the certificate is replaced, and a warning while it expires within
 * {@link EXPIRY_WARNING_DAYS} days (an error once it has expired): at start, after each
 * replacement, and once a day while the server runs, on a timer that keeps no process
 * alive and stops with the server.
 */
import type { Logger } from '../log/logger.js';
import type { CertificateInfo } from './certificate.js';

/** The server warns when its certificate expires within this many days. */
export const EXPIRY_WARNING_DAYS = 14;
/** How often a running server looks at its certificate's expiry again. */
export const EXPIRY_CHECK_INTERVAL_MS = 86_400_000;

const DAY_MS = 86_400_000;

/** The fields of a certificate's log lines. */
export function certificateFields(info: CertificateInfo): Record<string, unknown> {
  return { subject: info.subject, names: info.names, fingerprint: info.fingerprint, expires: info.validTo.toISOString() };
}

/** The expiry warnings of the server's certificate (none while it has none). */
export class CertificateWatch {
  readonly #log: Logger;
  readonly #current: () => CertificateInfo | undefined;
  readonly #renew: string;
  #timer: NodeJS.Timeout | undefined;

  /**
   * Watches the certificate `current` returns; a warning ends with `renew`, which says how
   * to renew it (the self-signed certificate is renewed otherwise than one of files).
   */
  constructor(log: Logger, current: () => CertificateInfo | undefined, renew: string) {
    this.#log = log;
    this.#current = current;
    this.#renew = renew;
  }

  /** Checks now, then once a day until {@link stop}. */
  start(): void {
    this.check();
    this.#timer ??= setInterval(() => this.check(), EXPIRY_CHECK_INTERVAL_MS).unref();
  }

  /** Stops the daily check. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Warns if the certificate expires within {@link EXPIRY_WARNING_DAYS} days of `now`, errs if it has expired. */
  check(now = Date.now()): void {
    const info = this.#current();
    if (!info) return;
    const left = info.validTo.getTime() - now;
    const at = info.validTo.toISOString();
    const fields = { fingerprint: info.fingerprint, expires: at };
    if (left <= 0) {
      this.#log.error(`TLS certificate expired at ${at}: clients that verify it refuse to connect; ${this.#renew}`, fields);
    } else if (left <= EXPIRY_WARNING_DAYS * DAY_MS) {
      const days = Math.floor(left / DAY_MS);
      const within = days === 0 ? 'within a day' : `in ${days} day${days === 1 ? '' : 's'}`;
      this.#log.warn(`TLS certificate expires ${within} (${at}): ${this.#renew}`, fields);
    }
  }
}
