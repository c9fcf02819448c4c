/**
 * Keeps the `prepare` script out of the published package.
 *
 * `prepare` builds a fresh clone on `npm ci` (lint needs the generated page module, the
 * quick start needs `dist/`). npm never runs it for a tarball install, but npm 11 still
 * lists it on every install of the tarball as an install script awaiting approval. So
 * `prepack` builds and then runs `strip`, which sets package.json aside and writes it
 * without `prepare`; npm packs that; `postpack` runs `restore`, which puts the original
 * back byte for byte. The same trick as pinst's for `postinstall`.
 *
 *   node --import tsx scripts/pack-manifest.ts strip|restore
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MANIFEST = join(ROOT, 'package.json');
/** Where the original package.json waits while npm packs (outside everything `files` ships). */
const SET_ASIDE = join(ROOT, 'node_modules', '.cache', 'bore-ts', 'package.json');

/** The text of package.json `text` without `scripts.prepare` (2-space JSON, like npm writes it). */
export function withoutPrepare(text: string): string {
  const manifest = JSON.parse(text) as { scripts?: Record<string, string> };
  if (manifest.scripts) delete manifest.scripts.prepare;
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

function strip(): void {
  if (existsSync(SET_ASIDE)) {
    throw new Error(`${SET_ASIDE} exists: a previous pack did not restore package.json; run this script with \`restore\` first`);
  }
  const text = readFileSync(MANIFEST, 'utf8');
  mkdirSync(dirname(SET_ASIDE), { recursive: true });
  writeFileSync(SET_ASIDE, text);
  writeFileSync(MANIFEST, withoutPrepare(text));
}

function restore(): void {
  if (existsSync(SET_ASIDE)) renameSync(SET_ASIDE, MANIFEST);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const command = process.argv[2];
  if (command === 'strip') strip();
  else if (command === 'restore') restore();
  else throw new Error(`usage: pack-manifest.ts strip|restore (got ${command ?? 'nothing'})`);
}
