#!/usr/bin/env node
/**
 * The `bore` executable (`bin.bore`, bundled to `dist/bundle/bore.mjs` for old Node
 * versions): checks the Node.js version before loading the CLI, so that an old Node
 * prints one line instead of a syntax error in minified code, then loads the CLI
 * (`src/cli/cli.ts`). Source maps stay off (Node's support keeps every module's map in
 * memory, some 7 MB of an idle client): an error that reaches the top is printed by
 * `src/cli/crash-report.ts`, loaded only then, with its stack mapped to the TypeScript
 * sources, and the process exits with status 1 as Node's own report would. SIGHUP is
 * caught first thing (`src/cli/hangup.ts`) and handed to the CLI once it is loaded.
 * The CLI's chunks run through the chunk loader (`src/cli/chunk-loader.ts`, bundled into
 * the executable by `scripts/bundle.ts`), with V8's code cache of what a start compiled
 * (`NODE_DISABLE_COMPILE_CACHE=1` turns it off). Built-ins are taken with
 * `process.getBuiltinModule`, not imported: an ES module import of `node:module` (or of
 * `node:fs`, `node:util`) builds a facade that reads every export, and their lazy ones
 * load fs streams, readline, worker_threads and source maps, some 10 ms of every start.
 */
import { catchHangups } from './hangup.js';
import { nodeVersionProblem } from './node-version.js';

const problem = nodeVersionProblem(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
} else {
  // Before the CLI loads (some 0.2 s): a SIGHUP's default action would kill the process.
  catchHangups();
  // Uncaught exceptions, and unhandled rejections (raised as uncaught exceptions).
  process.on('uncaughtException', (err) => {
    process.exitCode = 1;
    // A file of its own beside this one, loaded only now: the report follows in a microtask.
    import('./crash-report.js')
      .then(({ reportCrash }) => reportCrash(err))
      .catch(() => process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`))
      .finally(() => process.exit(1));
  });
  // Not awaited: the single-file executable bundles this file as CommonJS (no top-level await).
  void import('./cli.js');
}
