/**
 * The client's credentials: a fixed secret, or a secret file (its first line) read anew
 * at every connection attempt and at most once a second for data connections, so that
 * a rotated secret is picked up by a running client without a restart, by its tunnels
 * that are up too (their control connections were authenticated once; each new data
 * connection is authenticated again, and must use a secret the server still accepts
 * once the old one is removed). A file that cannot be read later keeps the secret
 * read before, with one warning; at the start it is an option error.
 */
import { Authenticator } from '../protocol/auth.js';
import { monotonicMs } from '../protocol/on-demand.js';
import { OPTION_ERROR } from '../options/rules.js';
import { SecretFileError, readSecrets } from '../system/secret-file.js';
import type { Logger } from '../log/logger.js';

/** Where a client's secret comes from: `secret` itself, or the file `secretFile` (not both). */
export interface SecretOptions {
  secret?: string;
  secretFile?: string;
}

/** How long a secret file's content is used before a data connection reads it again. */
export const SECRET_FILE_MAX_AGE_MS = 1000;

/**
 * The credentials of `options`, as `ClientRuntime` takes them: none, an authenticator,
 * or (for a file) a function that gives the file's secret, read again when `fresh` (a
 * new attempt) or older than {@link SECRET_FILE_MAX_AGE_MS}. Throws an option error (a
 * `RangeError` naming the path, never the content) when both are given or the file
 * cannot be read now.
 */
export function clientCredentials(
  options: SecretOptions,
  logger: Logger,
  now: () => number = monotonicMs,
): Authenticator | ((fresh: boolean) => Authenticator) | undefined {
  const { secret, secretFile } = options;
  if (secret !== undefined && secretFile !== undefined) throw optionError('secret and secretFile given together: use one of them');
  if (secretFile === undefined) return secret ? new Authenticator(secret) : undefined;
  let current: { secret: string; auth: Authenticator };
  let readAt = 0;
  let failing = false;
  const read = () => {
    const [first] = readSecrets(secretFile);
    if (first === current?.secret) return;
    if (current) logger.info('secret file changed: new connections use its first line', { file: secretFile });
    current = { secret: first!, auth: new Authenticator(first!) };
  };
  try {
    read();
    readAt = now();
  } catch (err) {
    throw err instanceof SecretFileError ? optionError(`secretFile: ${err.message}`) : err;
  }
  return (fresh) => {
    if (!fresh && now() - readAt < SECRET_FILE_MAX_AGE_MS) return current.auth;
    readAt = now();
    try {
      read();
      if (failing) logger.info('secret file readable again', { file: secretFile });
      failing = false;
    } catch (err) {
      if (!(err instanceof SecretFileError)) throw err;
      if (!failing) logger.warn(`secret file: ${err.message}; using the secret read before`, { file: secretFile, code: err.code });
      failing = true;
    }
    return current.auth;
  };
}

function optionError(message: string): RangeError {
  return Object.assign(new RangeError(message), { code: OPTION_ERROR });
}
