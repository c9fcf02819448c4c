/**
 * The client's credentials: a fixed secret, or a secret file read anew at every
 * connection attempt (its first line), so that a rotated secret is picked up by a
 * running client without a restart. A file that cannot be read at a later attempt
 * keeps the secret read before, with a warning; at the start it is an option error.
 */
import { Authenticator } from '../protocol/auth.js';
import { OPTION_ERROR } from '../options.js';
import { SecretFileError, readSecrets } from '../secret-file.js';
import type { Logger } from '../log.js';

/** Where a client's secret comes from: `secret` itself, or the file `secretFile` (not both). */
export interface SecretOptions {
  secret?: string;
  secretFile?: string;
}

/**
 * The credentials of `options`, as `ClientRuntime` takes them: none, an authenticator,
 * or (for a file) a function that re-reads the file for each attempt. Throws an option
 * error (a `RangeError` naming the path, never the content) when both are given or the
 * file cannot be read now.
 */
export function clientCredentials(options: SecretOptions, logger: Logger): Authenticator | (() => Authenticator) | undefined {
  const { secret, secretFile } = options;
  if (secret !== undefined && secretFile !== undefined) throw optionError('secret and secretFile given together: use one of them');
  if (secretFile === undefined) return secret ? new Authenticator(secret) : undefined;
  let current: { secret: string; auth: Authenticator };
  const read = () => {
    const [first] = readSecrets(secretFile);
    if (first !== current?.secret) current = { secret: first!, auth: new Authenticator(first!) };
    return current.auth;
  };
  try {
    read();
  } catch (err) {
    throw err instanceof SecretFileError ? optionError(`secretFile: ${err.message}`) : err;
  }
  return () => {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof SecretFileError)) throw err;
      logger.warn(`secret file: ${err.message}; using the secret read before`, { file: secretFile, code: err.code });
      return current.auth;
    }
  };
}

function optionError(message: string): RangeError {
  return Object.assign(new RangeError(message), { code: OPTION_ERROR });
}
