#!/usr/bin/env node
/**
 * The `bore` executable (`bin.bore`, bundled to `dist/bundle/bore.mjs` for old Node
 * versions): checks the Node.js version before loading the CLI, so that an old Node
 * prints one line instead of a syntax error in minified code, then turns on source
 * maps, so that a stack trace from the bundled CLI points at the TypeScript sources,
 * and loads the CLI (`src/cli.ts`).
 */
import { nodeVersionProblem } from './node-version.js';

const problem = nodeVersionProblem(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
} else {
  // Only modules loaded from here on are mapped: the CLI and its chunks.
  process.setSourceMapsEnabled(true);
  await import('./cli.js');
}
