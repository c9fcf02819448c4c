/** The commands of `bore` and what runs each, loaded with it. */
import type { Args } from './args.js';

/** The commands of `bore`. */
export const COMMANDS = ['local', 'up', 'server'] as const;

/** A command of `bore`. */
export type Command = (typeof COMMANDS)[number];

/** Whether `word` is a command of `bore`. */
export function isCommand(word: string | undefined): word is Command {
  return (COMMANDS as readonly (string | undefined)[]).includes(word);
}

/** What runs each command, given its parsed flags (for `bore local`, each flag's last value). */
export type CommandHandlers = Readonly<Record<Command, (argv: Args) => Promise<void>>>;

/** Each command's runner, loaded when it runs: `bore server` never loads the client's modules, nor `bore local` the server's. */
export const RUNNERS: CommandHandlers = {
  local: async (argv) => (await import('./local.js')).runLocal(argv),
  up: async (argv) => (await import('./up.js')).runUp(argv),
  server: async (argv) => (await import('./server.js')).runServer(argv),
};
