/** The error of a certificate an ACME CA did not issue (or that could not be kept), apart so that it loads without the ACME library. */

/** The `code` of an {@link AcmeError}. */
export const ACME_ERROR = 'ERR_BORE_ACME';

/** A certificate the CA did not issue (or that could not be kept); the message names the cause and the fix. */
export class AcmeError extends Error {
  override name = 'AcmeError';
  readonly code = ACME_ERROR;
}
