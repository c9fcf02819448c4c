/**
 * Loads the CLI bundle's chunks (`dist/bundle/*.cjs`) through `vm.Script` with V8's code
 * cache of what they compiled once the command had started (`src/cli/code-cache.ts`).
 *
 * Node's module compile cache keeps a module's code as compiled before it runs: the top
 * level, none of the functions the start then calls, which V8 compiles one by one as
 * they are first called. A script's code cache made after it ran holds them too: the
 * chunks are CommonJS, each run by this loader, which writes each chunk's cache 5 s after
 * it loaded when it holds more than the cache it started from (at exit, if sooner, when
 * it started from none); the next start reads it. Measured (`bench/listen-start.ts`): `bore local` to listening
 * 1.37x -> 1.26x a bare Node process that connects, then listens on Node 24, 1.37x ->
 * 1.28x on Node 22; bench/README.md, "The CLI's own code cache".
 *
 * Each chunk's text is a function expression ({@link CHUNK_HEAD}, {@link CHUNK_TAIL},
 * written around it by rolldown): run as a script it gives the function this loader calls
 * with the module's `exports`, `require`, `module`, file and folder; required by Node it
 * calls itself with Node's own, so `node dist/bundle/cli.cjs` still runs the CLI. Chunks
 * require each other as `./chunk-….cjs` (loaded here, once each) and built-ins by name.
 */
import { openCodeCache, type ChunkStats, type CodeCache } from './code-cache.js';

/** What a chunk's function is called with, as Node calls a CommonJS module's. */
type ChunkFunction = (
  this: object,
  exports: object,
  require: (id: string) => unknown,
  module: { exports: object },
  filename: string,
  dirname: string,
) => void;

const PARAMS = 'exports,require,module,__filename,__dirname';

/**
 * The text before each chunk's code (rolldown's `postBanner`, on a line of its own; the
 * source maps count it): strict, and a function expression that a script's run returns
 * and that a CommonJS load calls at once. Told apart by `this`: a script's top level has
 * the global object, a CommonJS module's its `exports` (not by a global `module`, which
 * `node -e` and the REPL define).
 */
export const CHUNK_HEAD = `"use strict";(this===globalThis?f=>f:f=>f.call(exports,${PARAMS}))(function(${PARAMS}){`;

/** The text after each chunk's code (see {@link CHUNK_HEAD}). */
export const CHUNK_TAIL = '})';

/** Loads chunks by file name, each once. */
export interface ChunkLoader {
  /** The chunk `name` (e.g. `cli.cjs`) of the loader's folder, run on first use: its exports. */
  load(name: string): Record<string, unknown>;
  /** The bytes of code cache V8 accepted for the chunk `name` (0: compiled from its source), or `undefined` if it is not loaded. */
  cachedBytes(name: string): number | undefined;
}

/** Where chunks are and how their code cache is kept. */
export interface ChunkLoaderOptions {
  /** The folder of the chunks. */
  dir: string;
  /** The code cache, or `undefined` to compile every time. */
  cache: CodeCache | undefined;
  /** How long after a chunk loaded its cache is written if it grew (5 s, as Node's compile cache; at exit if sooner and it had none). */
  saveAfterMs?: number;
}

/** A chunk as loaded: what its cache entry is named by, and the size of the cache it started from. */
interface Loaded {
  name: string;
  stats: ChunkStats;
  script: import('node:vm').Script;
  /** The bytes of the cache V8 accepted for it, 0 if none. */
  cachedBytes: number;
}

/**
 * A chunk's cache is written again when it has grown by more than this share: a start
 * that compiled more (a first run that stopped early, a visitor within the first seconds)
 * adds its functions, while the few bytes by which two alike runs differ write nothing.
 */
const GROWTH_TO_REWRITE = 0.01;

/** A {@link ChunkLoader} for `options` (see the module comment). */
export function createChunkLoader({ dir, cache, saveAfterMs = 5000 }: ChunkLoaderOptions): ChunkLoader {
  const fs = process.getBuiltinModule('node:fs');
  const vm = process.getBuiltinModule('node:vm');
  const modules = new Map<string, { exports: Record<string, unknown> }>();
  const started = new Map<string, number>();
  const loaded: Loaded[] = [];
  let timer: NodeJS.Timeout | undefined;
  let exitHooked = false;
  let external: ((id: string) => unknown) | undefined;

  // What each chunk has compiled by now, written where it holds more than the cache it
  // started from: 5 s after a chunk loaded; at exit (a command that ends sooner) only for
  // chunks that started without one, so that a short command with its cache serializes nothing.
  const save = (withoutCacheOnly: boolean) => {
    clearTimeout(timer);
    timer = undefined;
    for (const chunk of loaded.splice(0)) {
      if (withoutCacheOnly && chunk.cachedBytes > 0) continue;
      try {
        const data = chunk.script.createCachedData();
        if (data.length > chunk.cachedBytes * (1 + GROWTH_TO_REWRITE)) cache?.write(chunk.name, chunk.stats, data);
      } catch {
        // The cache only saves time: a chunk whose code cannot be serialized runs without.
      }
    }
  };
  // Built-ins by name; anything else (nothing today: the native packages are loaded with
  // their own `createRequire`) as Node would require it from the chunk's folder.
  const require = (id: string): unknown => {
    if (id.startsWith('./')) return load(id.slice(2));
    const builtin = process.getBuiltinModule(id);
    if (builtin !== undefined) return builtin;
    external ??= process.getBuiltinModule('node:module').createRequire(`${dir}/`);
    return external(id);
  };
  const load = (name: string): Record<string, unknown> => {
    const known = modules.get(name);
    if (known) return known.exports;
    const file = `${dir}/${name}`;
    const fd = fs.openSync(file, 'r');
    let stats: ChunkStats;
    let source: string;
    try {
      stats = fs.fstatSync(fd);
      source = fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
    const cachedData = cache?.read(name, stats);
    // No `import()` is left in a CommonJS chunk (rolldown turns them into `require`), so
    // the script needs no `importModuleDynamically`.
    const script = new vm.Script(source, { filename: file, cachedData });
    const cachedBytes = cachedData === undefined || script.cachedDataRejected === true ? 0 : cachedData.length;
    started.set(name, cachedBytes);
    if (cache !== undefined) {
      loaded.push({ name, stats: { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs }, script, cachedBytes });
      timer ??= setTimeout(() => save(false), saveAfterMs).unref();
      if (!exitHooked) process.once('exit', () => save(true));
      exitHooked = true;
    }
    const module = { exports: {} as Record<string, unknown> };
    modules.set(name, module);
    const run = script.runInThisContext() as ChunkFunction;
    run.call(module.exports, module.exports, require, module, file, dir);
    return module.exports;
  };
  return { load, cachedBytes: (name) => started.get(name) };
}

let bundleLoader: ChunkLoader | undefined;

/**
 * Runs the chunk `name` of the bundle whose executable is at `url` (its
 * `import.meta.url`), with the user's code cache (`src/cli/code-cache.ts`): the loader is
 * made on the first call, and each chunk runs once per process.
 */
export function loadBundleChunk(url: string, name: string): Record<string, unknown> {
  if (bundleLoader === undefined) {
    const fs = process.getBuiltinModule('node:fs');
    const dir = process.getBuiltinModule('node:path').dirname(process.getBuiltinModule('node:url').fileURLToPath(url));
    const tmpdir = process.getBuiltinModule('node:os').tmpdir();
    bundleLoader = createChunkLoader({ dir, cache: openCodeCache(fs, { env: process.env, uid: process.getuid?.() ?? 0, tmpdir }) });
  }
  return bundleLoader.load(name);
}
