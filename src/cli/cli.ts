#!/usr/bin/env node
/**
 * The `bore` command line: `bore local`, `bore up` and `bore server`, a thin layer over
 * the library API. This module parses and reports: a plain call by the quick parse
 * (`quick-args.ts`, Node's `util.parseArgs`), help and anything else by yargs
 * (`cli-parser.ts`, loaded only then), both over the flags of `flags.ts` (from the option
 * tables); the values are read in `args.ts`, each command runs in its own module
 * (`local.ts`, `up.ts`, `server.ts`) and the process's concerns (exit codes, signals,
 * log settings) are in `process.ts`. Usage errors exit with status 2 and say how to fix
 * the call.
 */
import { UsageError } from './args.js';
import { EXIT_CODES, chosenLogFormat, exit, outliveOutput, printError } from './process.js';
import { RUNNERS, isCommand } from './commands.js';
import { quickArgs } from './quick-args.js';

async function main(): Promise<void> {
  outliveOutput();
  const typed = process.argv.slice(2);
  // `bore help local`, as clap has it: the command's help.
  const args = typed[0] === 'help' ? [...(isCommand(typed[1]) ? [typed[1]] : []), '--help'] : typed;
  const quick = quickArgs(args);
  if (quick !== undefined) return RUNNERS[quick.command](quick.argv);
  const { parseAndRun } = await import('./cli-parser.js');
  await parseAndRun(args, RUNNERS);
}

// Not awaited at the top level: the single-file executable's build (CommonJS) has no top-level await.
void main().catch(async (err: unknown) => {
  const json = chosenLogFormat() === 'json';
  if (err instanceof UsageError) {
    if (json) printError(err.message, { code: 'usage' });
    else printError(`${err.message}\n\nRun \`bore --help\` or \`bore <command> --help\` for usage.`);
    exit(EXIT_CODES.usage);
    return;
  }
  const raw = err instanceof Error ? err.stack : undefined;
  // Source maps are off (src/cli/bin.ts): the stack is mapped to src/*.ts now, by a chunk loaded only for this.
  const stack =
    raw === undefined
      ? undefined
      : await import('./crash-report.js').then(
          ({ mapStack }) => mapStack(raw),
          () => raw,
        );
  const message = err instanceof Error ? err.message : String(err);
  if (json) printError(message, { stack });
  else printError(stack ?? String(err));
  exit(EXIT_CODES.failed);
});
