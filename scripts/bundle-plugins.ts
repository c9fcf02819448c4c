/**
 * What the bundles' plugins put in place of a module, shared by the CLI's bundler
 * (rolldown, `scripts/bundle-cli.ts`) and the single-file executable's (esbuild,
 * `scripts/build-exe.ts`): each bundler has a thin plugin of its own over these.
 */
/** The import specifiers of yargs's help rendering that are loaded on first use ({@link lazyModuleSource}). */
export const LAZY_HELP_MODULES = /^(cliui|string-width)$/;
/** yargs's module that imports them (its platform shims). */
export const LAZY_HELP_IMPORTER = /yargs[\\/]lib[\\/]platform-shims/;

/**
 * yargs imports cliui and string-width at load, and their modules build Intl.Segmenter
 * objects and Unicode-property regexes at once: ICU data that then stays resident, 2.6 MB
 * for the life of a tunnel. Only help and error output uses them, so yargs gets a stub
 * of each whose first call `require`s the real module (`specifier`); the bundler wraps
 * that module so it is evaluated then, not at start-up (`test/bundle.test.ts` checks it).
 */
export function lazyModuleSource(specifier: string): string {
  // esbuild's require of an ES module gives its namespace; rolldown's, its default export alone.
  return `let f; export default function lazy(...a) { if (f === undefined) { const m = require(${JSON.stringify(specifier)}); f = typeof m === 'function' ? m : m.default; } return f(...a); }`;
}

/**
 * Node's built-in `id` (`node:fs`, ...) taken with `process.getBuiltinModule(id)` (Node
 * 20.16 and later, which the executable checks first), not as an ES import. An ES import
 * of a built-in makes Node build its ES facade, which reads every export at once: the
 * lazy ones of `fs` (`ReadStream`, `promises`), `util` (`TextDecoder`, `parseArgs`) and
 * `module` (`SourceMap`) load fs streams, fs/promises, readline, the REPL history,
 * worker_threads and source maps, some 10 ms of every start and 30 modules nobody uses.
 * The module exports the built-in as its default and, by name, only `names` (what its
 * importer imports, {@link importedNames}); `undefined` (a namespace import, or
 * `require`) makes it a CommonJS module whose exports are the built-in's.
 */
export function builtinModuleSource(id: string, names: string[] | undefined): string {
  const module = `process.getBuiltinModule(${JSON.stringify(id)})`;
  if (names === undefined) return `module.exports = ${module};`;
  return `const m = ${module};\nexport default m;\n${names.length > 0 ? `export const { ${names.join(', ')} } = m;\n` : ''}`;
}

/**
 * The names `source` imports by name from the module `id` (`import fs, { readFileSync as
 * read } from 'node:fs'`: `readFileSync`), type imports left out; `undefined` when it
 * imports the whole namespace or requires it (CommonJS), which need every export.
 */
export function importedNames(source: string, id: string): string[] | undefined {
  const quoted = id.replace(/[/]/g, '\\/');
  const clauses = [...source.matchAll(new RegExp(`import\\s+(?!type\\s)([^;'"]*?)\\s+from\\s+['"]${quoted}['"]`, 'g'))].map((m) => m[1]!);
  if (clauses.length === 0 || clauses.some((clause) => clause.includes('*'))) return undefined;
  const names = new Set<string>();
  for (const clause of clauses) {
    for (const item of /\{([^}]*)\}/.exec(clause)?.[1]?.split(',') ?? []) {
      const name = item.trim().split(/\s+as\s+/)[0]!;
      if (name !== '' && !name.startsWith('type ')) names.add(name);
    }
  }
  return [...names];
}
