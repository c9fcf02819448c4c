/**
 * When an ACME certificate is renewed, and when a failed renewal is tried again.
 *
 * Renewal at two thirds of the certificate's lifetime: a 90-day Let's Encrypt
 * certificate 30 days before it expires (what Let's Encrypt and certbot advise), a
 * 6-day one 2 days before, a test CA's 30-second one 10 s before. The rest of the
 * lifetime is the room for retries: a failure (CA down, port 80 blocked for a while) is
 * retried with a backoff that starts at 1/20 of the time left (between 1 s and 5 min)
 * and doubles up to an hour, so a CA outage of days is ridden out, a test certificate
 * is retried within its seconds, and the CA's failed-validation limit (5 an hour for
 * Let's Encrypt) is not hit.
 */

/** The part of a certificate's lifetime after which it is renewed. */
export const RENEW_AT_FRACTION = 2 / 3;

/** Bounds of the first retry delay after a failed renewal (ms). */
export const RETRY_MIN_MS = 1000;
export const RETRY_FIRST_MAX_MS = 5 * 60_000;
/** Longest retry delay (ms). */
export const RETRY_MAX_MS = 60 * 60_000;

/** When a certificate valid from `notBefore` to `notAfter` is due for renewal. */
export function renewalTime(notBefore: Date, notAfter: Date): Date {
  const from = notBefore.getTime();
  return new Date(from + (notAfter.getTime() - from) * RENEW_AT_FRACTION);
}

/**
 * The delay before renewal attempt `failures + 1` after `failures` failures (at least
 * one) when the current certificate expires at `notAfter`.
 */
export function retryDelayMs(failures: number, notAfter: Date, now = Date.now()): number {
  const first = Math.min(RETRY_FIRST_MAX_MS, Math.max(RETRY_MIN_MS, (notAfter.getTime() - now) / 20));
  return Math.min(RETRY_MAX_MS, first * 2 ** Math.max(0, failures - 1));
}
