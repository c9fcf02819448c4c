/**
 * Loads a native addon that the single-file executable carries as a SEA asset
 * (`scripts/build-exe.ts`): Node loads native code only from a file, so the asset is
 * written to a fresh private folder (`mkdtemp`, mode 0700: nobody else can swap the
 * file), loaded with `process.dlopen`, and the folder removed at once (a loaded library
 * stays mapped after its file is gone). Part of the executable only, never of the package.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { getRawAsset } from 'node:sea';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/** The exports of the addon stored as asset `key`; throws, naming the folder it needs, if it cannot load. */
export function loadEmbeddedAddon(key: string): unknown {
  let dir: string | undefined;
  try {
    dir = mkdtempSync(join(tmpdir(), 'bore-addon-'));
    const file = join(dir, basename(key));
    writeFileSync(file, new Uint8Array(getRawAsset(key)), { mode: 0o700 });
    const addon = { exports: {} };
    process.dlopen(addon, file);
    return addon.exports;
  } catch (err) {
    throw new Error(
      `could not load the embedded ${key} (${(err as Error).message}): it is written to a new folder in ${tmpdir()} (TMPDIR), which must be writable and allow executables`,
      { cause: err },
    );
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}
