/**
 * Bundles the CLI with rolldown into `dist/bundle/`: the entry `cli.cjs`, the crash
 * report `crash-report.cjs` (loaded only when an error reaches the top), and chunks
 * loaded on demand, one per part a command loads together ({@link chunkNamer}).
 *
 * Why rolldown and not esbuild, which bundles the page and the executable: esbuild
 * makes a chunk of every set of entry points (the CLI's entry and each dynamic import)
 * that reach a module, and cannot merge them, so `bore server` loaded 26 files; each
 * costs the module loader 0.3-0.5 ms (resolution, read, the compile cache, linking).
 * rolldown's chunk groups put what a command needs in a few files: `bore server` loads 5,
 * measured 107 ms to listening against 117 (bench/README.md, "Time to listening").
 *
 * The bundle sits two levels below the package root like `dist/src/cli/cli.js`, so the
 * CLI's `../../package.json` lookup still works. Each file gets a linked source map
 * (mappings only, no source text: the maps stay small). Node's source-map support stays
 * off; `src/cli/crash-report.ts` reads the maps only when a crash report is printed. The
 * native `net-keepalive` and `ffi-rs` stay external.
 */
import { rolldown, type Plugin } from 'rolldown';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { CHUNK_HEAD, CHUNK_TAIL } from '../src/cli/chunk-loader.js';
import { LAZY_HELP_IMPORTER, LAZY_HELP_MODULES, builtinModuleSource, importedNames, lazyModuleSource } from './bundle-plugins.js';

/** Node's built-ins by the names a dependency may import or require them by (`fs`, `node:fs`, `fs/promises`). */
const BUILTINS = new Set(builtinModules.flatMap((id) => (id.startsWith('node:') ? [id] : [id, `node:${id}`])));

/** yargs's help rendering, evaluated on first use ({@link lazyModuleSource}). */
function lazyHelpRendering(): Plugin {
  return {
    name: 'lazy-help-rendering',
    async resolveId(source, importer) {
      if (!LAZY_HELP_MODULES.test(source) || importer === undefined || !LAZY_HELP_IMPORTER.test(importer)) return null;
      const real = await this.resolve(source, importer, { skipSelf: true });
      return real === null ? null : `\0lazy:${real.id}`;
    },
    load(id) {
      return id.startsWith('\0lazy:') ? lazyModuleSource(id.slice('\0lazy:'.length)) : null;
    },
  };
}

/**
 * Built-ins taken with `process.getBuiltinModule`, by the names each importer imports
 * ({@link builtinModuleSource}); a dependency's too, so that no `require` of a built-in
 * is left for rolldown's own `require`, made with an ES import of `node:module` at load.
 */
function builtinsWithoutFacade(): Plugin {
  // An importer's source, read once for all the built-ins it imports.
  const sources = new Map<string, string>();
  return {
    name: 'builtins-without-facade',
    resolveId(source, importer) {
      return BUILTINS.has(source) && importer !== undefined && !importer.startsWith('\0') ? `\0builtin:${source}#${importer}` : null;
    },
    load(id) {
      if (!id.startsWith('\0builtin:')) return null;
      const [builtin = '', importer = ''] = id.slice('\0builtin:'.length).split('#');
      if (!sources.has(importer)) sources.set(importer, readFileSync(importer, 'utf8'));
      return builtinModuleSource(builtin, importedNames(sources.get(importer)!, builtin));
    },
  };
}

/**
 * Optional modules a dependency tries to `require` and does without (debug, under
 * acme-client, tries `supports-color`), none of them installed: each is bundled as a module
 * that throws as Node would. Left as a `require`, it made rolldown add its own
 * `require` to the runtime chunk every start loads, made with an ES import of
 * `node:module` (its facade: source maps and more, loaded at start).
 */
const ABSENT_OPTIONAL_MODULES = new Set(['supports-color']);

/** {@link ABSENT_OPTIONAL_MODULES} as modules that throw Node's "Cannot find module". */
function absentOptionalModules(): Plugin {
  return {
    name: 'absent-optional-modules',
    resolveId(source) {
      return ABSENT_OPTIONAL_MODULES.has(source) ? `\0absent:${source}` : null;
    },
    load(id) {
      if (!id.startsWith('\0absent:')) return null;
      const message = JSON.stringify(`Cannot find module '${id.slice('\0absent:'.length)}'`);
      return `throw Object.assign(new Error(${message}), { code: 'MODULE_NOT_FOUND' });\nmodule.exports = {};`;
    },
  };
}

/** The modules whose static imports make up each part a command loads together. */
const PARTS = {
  entry: ['src/cli/cli.ts'],
  server: ['src/cli/server.ts'],
  client: ['src/cli/local.ts', 'src/cli/up.ts'],
} as const;

type ModuleInfoReader = (id: string) => { importedIds: readonly string[] } | null;

/**
 * The chunk a module goes to: what a server and a client both import statically is
 * `core` (the entry's share of it too: the entry loads `core` at once); what only the
 * entry imports stays in `cli.mjs`; the rest a server imports is `server`, the rest a
 * client imports `client`. Modules loaded later (the inspector, ACME, metrics, the help)
 * are left to rolldown's own chunking (`null`).
 */
function chunkNamer(root: string): (id: string, ctx: { getModuleInfo: ModuleInfoReader }) => string | null {
  let closures: Record<keyof typeof PARTS, Set<string>> | undefined;
  const closure = (roots: readonly string[], read: ModuleInfoReader): Set<string> => {
    const seen = new Set<string>();
    const stack = roots.map((file) => join(root, file));
    for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
      if (seen.has(id)) continue;
      seen.add(id);
      stack.push(...(read(id)?.importedIds ?? []));
    }
    return seen;
  };
  return (id, ctx) => {
    const read: ModuleInfoReader = (module) => ctx.getModuleInfo(module);
    closures ??= { entry: closure(PARTS.entry, read), server: closure(PARTS.server, read), client: closure(PARTS.client, read) };
    const { entry, server, client } = closures;
    if (server.has(id) && client.has(id)) return 'core';
    if (entry.has(id)) return null;
    if (server.has(id)) return 'server';
    if (client.has(id)) return 'client';
    return null;
  };
}

/** Bundles the CLI into `outdir` (see the module comment); `root` is the package's folder. */
export async function bundleCli(root: string, outdir: string): Promise<void> {
  rmSync(outdir, { recursive: true, force: true });
  const bundle = await rolldown({
    input: { cli: join(root, 'src', 'cli', 'cli.ts'), 'crash-report': join(root, 'src', 'cli', 'crash-report.ts') },
    platform: 'node',
    external: ['net-keepalive', 'ffi-rs'],
    resolve: { extensionAlias: { '.js': ['.ts', '.js'] } },
    transform: { target: 'node20' },
    plugins: [lazyHelpRendering(), builtinsWithoutFacade(), absentOptionalModules()],
    logLevel: 'warn',
    // yargs's `extends` of a package config reads `import.meta.resolve`, empty in CommonJS:
    // its `try` then keeps the config as it is. The CLI gives yargs no config.
    checks: { emptyImportMeta: false },
    preserveEntrySignatures: 'allow-extension',
  });
  await bundle.write({
    dir: outdir,
    // CommonJS, each file a function expression: `src/cli/chunk-loader.ts` runs them with a
    // code cache of what the start compiled, which Node's loader of ES modules cannot keep.
    format: 'cjs',
    postBanner: CHUNK_HEAD,
    postFooter: CHUNK_TAIL,
    // The head holds the directive, inside each file as the function's code needs it.
    strict: false,
    entryFileNames: '[name].cjs',
    chunkFileNames: 'chunk-[name]-[hash].cjs',
    minify: true,
    // Non-ASCII characters escaped (esbuild's default): one `…` in a chunk makes V8 hold
    // its whole source as a two-byte string, twice the memory, kept for the process's life.
    charset: 'ascii',
    comments: false,
    sourcemap: true,
    sourcemapExcludeSources: true,
    codeSplitting: { groups: [{ name: chunkNamer(root), debugName: 'command parts', includeDependenciesRecursively: false }] },
  });
  await bundle.close();
  const entry = join(outdir, 'cli.cjs');
  process.stdout.write(`wrote ${entry} (${(statSync(entry).size / 1024).toFixed(0)} KiB) and its chunks in ${dirname(entry)}\n`);
}
