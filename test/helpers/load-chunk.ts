/**
 * Test driver for `src/cli/chunk-loader.ts`, run as a child process (a code cache is read
 * by the next process, as a start reads the last one's): loads the chunk `argv[3]` of the
 * folder `argv[2]` with the code cache under `argv[4]` (as `NODE_COMPILE_CACHE`; `-` for
 * none), and prints its `value` export and the bytes of cache it started from. The cache
 * is written at exit.
 */
import fs from 'node:fs';
import { createChunkLoader } from '../../src/cli/chunk-loader.js';
import { openCodeCache } from '../../src/cli/code-cache.js';

const [dir = '', name = '', base = '-'] = process.argv.slice(2);
const cache =
  base === '-' ? undefined : openCodeCache(fs, { env: { NODE_COMPILE_CACHE: base }, uid: process.getuid?.() ?? 0, tmpdir: '/nonexistent' });
const loader = createChunkLoader({ dir, cache, saveAfterMs: 60_000 });
const { value } = loader.load(name);
process.stdout.write(`${JSON.stringify({ value, cachedBytes: loader.cachedBytes(name), cache: cache !== undefined })}\n`);
