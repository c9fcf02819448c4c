// Preloaded into the CLI by test/package.test.ts (`node --import`): when the process
// exits, prints the TypeScript sources of the source map Node holds for the bundle
// named by PROBE_BUNDLE, or that it holds none (source maps off, or no map file).
import { findSourceMap } from 'node:module';
import { pathToFileURL } from 'node:url';

process.on('exit', () => {
  const map = findSourceMap(pathToFileURL(process.env.PROBE_BUNDLE ?? '').href);
  const sources = map ? map.payload.sources.filter((s) => s.includes('src/')).join(' ') : 'no source map';
  process.stderr.write(`source map probe: ${sources}\n`);
});
