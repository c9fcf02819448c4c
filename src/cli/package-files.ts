/**
 * The package's own files that the CLI reads: its version (`package.json`) and the
 * example config (`examples/bore.toml`, printed by `bore up --example`), read from disk
 * two levels up from the bundle (`dist/bundle/`) and the sources (`src/cli/`), three
 * from tsc's `dist/src/cli/`. The single-file executable has no package folder: its
 * build (`scripts/build-exe.ts`) puts a module with both texts inlined in this one's place.
 */
import { readFileSync } from 'node:fs';

/** The text of `path` (relative to the package root), from two levels up or else three. */
function packageFile(path: string): string {
  try {
    return readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
  } catch {
    return readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');
  }
}

/** The package's version (`version` in `package.json`; empty if it has none). */
export function packageVersion(): string {
  const json: unknown = JSON.parse(packageFile('package.json'));
  return typeof json === 'object' && json !== null && 'version' in json ? String(json.version) : '';
}

/** The example config file, `examples/bore.toml`. */
export function exampleConfig(): string {
  return packageFile('examples/bore.toml');
}
