/**
 * Bundles the CLI with esbuild into `dist/bundle/cli.mjs` plus chunks loaded on demand:
 * a few files instead of some 200 modules (yargs, winston, xstate and ours), and
 * `--help` never loads the server, the client or the logger. The native
 * `net-keepalive` stays external. The bundle sits two levels below the package root
 * like `dist/src/cli.js`, so the CLI's `../../package.json` lookup still works.
 *
 * Run by `npm run build` (after tsc); `bin.bore` points at the bundle.
 */
import { build, type Plugin } from 'esbuild';
import { chmodSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where the bundle is written (its entry point; `chunk-*.mjs` files sit next to it). */
export const BUNDLE = join(ROOT, 'dist', 'bundle', 'cli.mjs');

/**
 * yargs imports cliui and string-width at load, and their modules build Intl.Segmenter
 * objects and Unicode-property regexes at once: ICU data that then stays resident, 2.6 MB
 * for the life of a tunnel. Only help and error output uses them, so yargs gets a stub
 * of each whose first call `require`s the real module; esbuild bundles that module
 * wrapped so it is evaluated then, not at start-up (`test/bundle.test.ts` checks it).
 */
const lazyHelpRendering: Plugin = {
  name: 'lazy-help-rendering',
  setup(b) {
    b.onResolve({ filter: /^(cliui|string-width)$/ }, (args) =>
      /yargs[\\/]lib[\\/]platform-shims/.test(args.importer) ? { path: args.path, namespace: 'lazy', pluginData: dirname(args.importer) } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({
      contents: `let m; export default function lazy(...a) { m ??= require(${JSON.stringify(args.path)}); return m.default(...a); }`,
      resolveDir: args.pluginData as string,
      loader: 'js',
    }));
  },
};

rmSync(dirname(BUNDLE), { recursive: true, force: true });
await build({
  entryPoints: [join(ROOT, 'src', 'cli.ts')],
  outdir: dirname(BUNDLE),
  outExtension: { '.js': '.mjs' },
  entryNames: 'cli',
  chunkNames: 'chunk-[hash]',
  // The server, the client and the logger are imported on demand: `--help` loads neither.
  splitting: true,
  minify: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['net-keepalive'],
  // CommonJS dependencies (winston, logform) call require() for Node built-ins.
  banner: { js: "import { createRequire as __boreCreateRequire } from 'node:module';\nconst require = __boreCreateRequire(import.meta.url);" },
  legalComments: 'none',
  plugins: [lazyHelpRendering],
  logLevel: 'warning',
});
chmodSync(BUNDLE, 0o755);
process.stdout.write(`wrote ${BUNDLE} (${(statSync(BUNDLE).size / 1024).toFixed(0)} KiB)\n`);
