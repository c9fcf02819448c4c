/**
 * Secret files (`--secret-file`, `secret_file`): one secret per line, the first the
 * current one. A server accepts every secret of its file, so an operator rotates a
 * secret without downtime: add the new one to the server's file (first line) and
 * reload the server, switch the clients' files (a client reads its file again at every
 * connection attempt, and at most once a second for data connections), then remove
 * the old line and reload the server again. Nothing here ever
 * puts a secret in an error message.
 */
import { readFileSync } from 'node:fs';

/** The secrets of a secret file's text: its lines, without line ends, empty lines skipped. */
export function parseSecrets(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => line !== '');
}

/** Why a secret file gave no secret: a code (`ENOENT`, `EACCES`, ..., or `EMPTY`) and the path. */
export class SecretFileError extends Error {
  override name = 'SecretFileError';
  readonly code: string;
  readonly path: string;

  constructor(path: string, code: string) {
    super(code === 'EMPTY' ? `'${path}' is empty` : `cannot read '${path}' (${code})`);
    this.code = code;
    this.path = path;
  }
}

/** Reads the secrets of the file at `path`; throws a {@link SecretFileError} if it cannot be read or holds none. */
export function readSecrets(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SecretFileError(path, (err as NodeJS.ErrnoException).code ?? 'error');
  }
  const secrets = parseSecrets(text);
  if (secrets.length === 0) throw new SecretFileError(path, 'EMPTY');
  return secrets;
}
