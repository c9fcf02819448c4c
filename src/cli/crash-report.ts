/**
 * Crash reports for the bundled CLI, mapped back to the TypeScript sources on demand.
 *
 * The bundle's files (`dist/bundle/*.mjs`) have linked source maps, but Node's own
 * source-map support (`--enable-source-maps`, `process.setSourceMapsEnabled`) parses
 * the map of every module as it loads and keeps it: some 7 MB of an idle client's RSS
 * for a stack trace it will most likely never print. So source maps stay off, and only
 * when an error is about to be printed with its stack does this module, imported then
 * (`src/cli/bin.ts` for uncaught errors, `src/cli/cli.ts` for the errors its `main` reports),
 * read the maps of the files in the stack and rewrite their positions.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload, type SourceMapping } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Node's `util`, taken as `require` would (an import reads its lazy exports); loaded only for a crash. */
const util = process.getBuiltinModule('node:util');

/** The folder whose files get mapped: the one this module is in (`dist/bundle` once bundled). */
const HERE = dirname(fileURLToPath(import.meta.url));

/** A position in a stack frame: a file URL or absolute path, then `:line:column`. */
const POSITION = /((?:file:\/\/)?\/[^\s()]+?):(\d+):(\d+)/g;

/** Each generated file's source map and folder, or `null` when it has none (read once per report). */
type Maps = Map<string, { map: SourceMap; dir: string } | null>;

function mapFor(file: string, dir: string, maps: Maps): { map: SourceMap; dir: string } | null {
  let entry = maps.get(file);
  if (entry !== undefined) return entry;
  entry = null;
  try {
    if (dirname(file) === dir && existsSync(`${file}.map`)) {
      const payload = JSON.parse(readFileSync(`${file}.map`, 'utf8')) as SourceMapPayload;
      entry = { map: new SourceMap(payload), dir: dirname(file) };
    }
  } catch {
    // An unreadable map leaves the frame as it is: the report matters more than the mapping.
  }
  maps.set(file, entry);
  return entry;
}

/**
 * Rewrites the stack frames of `stack` (an `Error#stack`, or `util.inspect` of an error)
 * that point into a file of `dir` (by default the bundle's folder) with a `.map` next to
 * it: `file:///…/dist/bundle/chunk-X.mjs:1:2345` becomes `file:///…/src/cli.ts:487:3`,
 * in the same form (URL or path) as the frame had. Other lines, and frames the maps do
 * not cover, are left as they are.
 */
export function mapStack(stack: string, dir: string = HERE): string {
  const maps: Maps = new Map();
  return stack
    .split('\n')
    .map((line) =>
      /^\s+at /.test(line)
        ? line.replace(POSITION, (whole, where: string, row: string, column: string) => {
            const isUrl = where.startsWith('file://');
            let file: string;
            try {
              file = isUrl ? fileURLToPath(where) : where;
            } catch {
              return whole;
            }
            const found = mapFor(file, dir, maps);
            if (!found) return whole;
            const entry: Partial<SourceMapping> = found.map.findEntry(Number(row) - 1, Number(column) - 1);
            // No entry, or one of a single field (generated code that maps to no source).
            if (typeof entry.originalSource !== 'string' || entry.originalLine === undefined || entry.originalColumn === undefined)
              return whole;
            const source = resolve(found.dir, entry.originalSource);
            return `${isUrl ? pathToFileURL(source).href : source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
          })
        : line,
    )
    .join('\n');
}

/**
 * Prints an error that reached the top (an uncaught exception, or an unhandled rejection
 * raised as one) as Node would, `util.inspect` of the error and the Node.js version,
 * with its stack mapped by {@link mapStack}. The caller exits (status 1, like Node).
 */
export function reportCrash(err: unknown): void {
  let text = err instanceof Error ? util.inspect(err) : `Uncaught ${util.inspect(err)}`;
  try {
    text = mapStack(text);
  } catch {
    // Print the stack unmapped rather than nothing.
  }
  process.stderr.write(`${text}\n\nNode.js ${process.version}\n`);
}
