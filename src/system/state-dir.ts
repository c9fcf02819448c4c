/**
 * Where the process keeps state of its own (the self-signed certificate): the directory
 * systemd made for the service (`StateDirectory=` sets `$STATE_DIRECTORY`), else the
 * user's state directory of the XDG base directory spec (`$XDG_STATE_HOME`, by default
 * `~/.local/state`), `bore` in it.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The state directory for `env` (`process.env` by default). */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  // systemd lists one path per StateDirectory= entry, separated by colons: the first is ours.
  const systemd = env.STATE_DIRECTORY?.split(':')[0];
  if (systemd) return systemd;
  const xdg = env.XDG_STATE_HOME;
  // The spec ignores a relative path.
  return join(xdg?.startsWith('/') ? xdg : join(homedir(), '.local', 'state'), 'bore');
}
