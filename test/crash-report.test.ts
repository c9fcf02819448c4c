/**
 * `mapStack` (src/cli/crash-report.ts) against a source map written here: frames in the
 * map's folder are mapped to their sources, and a frame on generated code that maps to
 * no source (a segment of one field, which rolldown writes) is left as it is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mapStack } from '../src/cli/crash-report.js';

test('mapStack maps frames that have a source and leaves those that map to none', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bore-crash-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'chunk.mjs');
  writeFileSync(file, 'ab\n');
  // Column 0: no source; column 1: src/a.ts line 3, column 5 (0-based 2 and 4).
  writeFileSync(`${file}.map`, JSON.stringify({ version: 3, file: 'chunk.mjs', sources: ['../src/a.ts'], names: [], mappings: 'A,CAEI' }));
  const stack = [
    'Error: boom',
    `    at f (${file}:1:1)`,
    `    at g (${pathToFileURL(file).href}:1:2)`,
    '    at h (node:internal/x:1:1)',
  ].join('\n');
  assert.deepEqual(mapStack(stack, dir).split('\n'), [
    'Error: boom',
    `    at f (${file}:1:1)`,
    `    at g (${pathToFileURL(join(dir, '..', 'src', 'a.ts')).href}:3:5)`,
    '    at h (node:internal/x:1:1)',
  ]);
});
