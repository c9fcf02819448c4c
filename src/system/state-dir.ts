/**
 * The server's state directory, where it keeps what must survive a restart (ACME
 * account key, certificates and their keys): private to its user, directories 0700 and
 * files 0600, each file written whole or not at all (a temporary file renamed over it).
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Where the server keeps its state by default: systemd's `$STATE_DIRECTORY` (set by
 * `StateDirectory=`; the first if it lists several), else `$XDG_STATE_HOME/bore`, else
 * `~/.local/state/bore`.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const systemd = env.STATE_DIRECTORY?.split(':').find((dir) => dir !== '');
  if (systemd !== undefined) return systemd;
  const xdg = env.XDG_STATE_HOME;
  return xdg !== undefined && xdg.startsWith('/') ? join(xdg, 'bore') : join(homedir(), '.local', 'state', 'bore');
}

/** Creates `dir` (and its missing parents) if needed and makes it 0700. */
export function privateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}

/** Writes `data` to `path` as a 0600 file, replacing it whole (never a half-written file). */
export function writePrivateFile(path: string, data: string | Buffer): void {
  privateDir(dirname(path));
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, data, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

/** The content of `path`, or undefined if there is no such file. Other errors (EACCES...) are thrown. */
export function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
