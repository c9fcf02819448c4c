/**
 * The CLI's chunk loader and its code cache (`src/cli/chunk-loader.ts`,
 * `src/cli/code-cache.ts`): chunks run as scripts and as CommonJS, the next process
 * starts from what the last one compiled (its functions too, not only the top level), a
 * rebuilt chunk never meets the old one's code, and a cache folder someone else could
 * write is not used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs, {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { promisify } from 'node:util';
import { CHUNK_HEAD, CHUNK_TAIL, createChunkLoader } from '../src/cli/chunk-loader.js';
import { codeCacheDir, openCodeCache } from '../src/cli/code-cache.js';

const run = promisify(execFile);
const DRIVER = fileURLToPath(new URL('./helpers/load-chunk.ts', import.meta.url));
const UID = process.getuid?.() ?? 0;

/** A chunk as rolldown writes them: CommonJS code between the head and the tail. */
const chunk = (code: string) => `${CHUNK_HEAD}\n${code}\n${CHUNK_TAIL}\n`;

/** A chunk whose `value` comes from functions it calls (compiled lazily, so only an after-run cache holds them). */
const computing = (n: number) =>
  chunk(
    [
      `function square(x) { return x * x; }`,
      `function total(k) { let sum = 0; for (let i = 0; i < k; i++) sum += square(i) % 7; return sum; }`,
      `exports.value = total(${n}) + require('./helper.cjs').offset;`,
    ].join('\n'),
  );

function folder(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bore-chunks-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'helper.cjs'), chunk('exports.offset = 1000;'));
  return dir;
}

async function load(dir: string, name: string, base: string): Promise<{ value: unknown; cachedBytes: number; cache: boolean }> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', DRIVER, dir, name, base], { timeout: 30_000 });
  return JSON.parse(stdout) as { value: unknown; cachedBytes: number; cache: boolean };
}

test('a chunk runs through the loader (its requires too) and as CommonJS, with the same exports', (t) => {
  const dir = folder(t);
  writeFileSync(join(dir, 'main.cjs'), computing(10));
  const loader = createChunkLoader({ dir, cache: undefined });
  const expected = [...Array(10).keys()].reduce((sum, i) => sum + ((i * i) % 7), 0) + 1000;
  assert.equal(loader.load('main.cjs').value, expected);
  assert.equal(loader.load('main.cjs'), loader.load('main.cjs'), 'each chunk runs once');
  assert.equal(loader.cachedBytes('main.cjs'), 0);
  assert.equal(createRequire(import.meta.url)(join(dir, 'main.cjs')).value, expected, 'Node requires it as a module');
});

test('a chunk runs through the loader where `module` and `exports` are globals (`node -e`, the REPL)', (t) => {
  const dir = folder(t);
  writeFileSync(join(dir, 'main.cjs'), computing(10));
  const globals = globalThis as { module?: unknown; exports?: unknown };
  globals.module = { exports: {} };
  globals.exports = {};
  t.after(() => {
    delete globals.module;
    delete globals.exports;
  });
  const loader = createChunkLoader({ dir, cache: undefined });
  assert.equal(typeof loader.load('main.cjs').value, 'number');
  assert.deepEqual(globals.exports, {}, 'the globals are left alone');
});

test('the next process starts from the code the last one compiled, its called functions included', async (t) => {
  const dir = folder(t);
  const base = join(dir, 'cache');
  const source = computing(50);
  writeFileSync(join(dir, 'main.cjs'), source);
  const first = await load(dir, 'main.cjs', base);
  assert.equal(first.cache, true);
  assert.equal(first.cachedBytes, 0, 'no cache yet');
  const entries = readdirSync(join(base, `bore-code-cache-${UID}`));
  const mainEntry = entries.find((f) => f.startsWith('main.cjs.'));
  assert.ok(mainEntry, entries.join(', '));
  assert.ok(
    entries.some((f) => f.startsWith('helper.cjs.')),
    entries.join(', '),
  );
  // What Node's compile cache would have kept: the code as compiled, before it ran.
  const beforeRun = new Script(source, { filename: join(dir, 'main.cjs') }).createCachedData().length;
  const afterRun = statSync(join(base, `bore-code-cache-${UID}`, mainEntry)).size;
  assert.ok(afterRun > beforeRun, `the cache holds the functions the run called: ${afterRun} bytes against ${beforeRun}`);

  const second = await load(dir, 'main.cjs', base);
  assert.equal(second.value, first.value);
  assert.equal(second.cachedBytes, afterRun, 'V8 accepted the cache');
  assert.deepEqual(readdirSync(join(base, `bore-code-cache-${UID}`)).sort(), entries.sort(), 'an alike run writes nothing new');
});

test('a rebuilt chunk of the same length never runs the old code', async (t) => {
  const dir = folder(t);
  const base = join(dir, 'cache');
  writeFileSync(join(dir, 'main.cjs'), computing(50));
  const first = await load(dir, 'main.cjs', base);
  // Same length (V8's own check passes), other code; written as a build writes it (a new file).
  writeFileSync(join(dir, 'main.cjs.new'), computing(60));
  renameSync(join(dir, 'main.cjs.new'), join(dir, 'main.cjs'));
  assert.equal(readFileSync(join(dir, 'main.cjs'), 'utf8').length, computing(50).length);
  const rebuilt = await load(dir, 'main.cjs', base);
  assert.notEqual(rebuilt.value, first.value);
  assert.equal(rebuilt.cachedBytes, 0, 'compiled from the new source');
  // Rewritten in place: the modification time tells.
  writeFileSync(join(dir, 'main.cjs'), computing(70));
  const again = await load(dir, 'main.cjs', base);
  assert.equal(again.cachedBytes, 0);
  assert.notEqual(again.value, rebuilt.value);
});

test('the cache folder: off with NODE_DISABLE_COMPILE_CACHE=1, under NODE_COMPILE_CACHE or the temporary folder', () => {
  assert.equal(codeCacheDir({ env: { NODE_DISABLE_COMPILE_CACHE: '1' }, uid: 1000, tmpdir: '/tmp' }), undefined);
  assert.equal(codeCacheDir({ env: {}, uid: 1000, tmpdir: '/tmp' }), '/tmp/bore-code-cache-1000');
  assert.equal(
    codeCacheDir({ env: { NODE_COMPILE_CACHE: '/var/cache/node/' }, uid: 7, tmpdir: '/tmp' }),
    '/var/cache/node/bore-code-cache-7',
  );
});

test('a cache folder others could write, or rename, or that is a link, is not used', (t) => {
  const open = (parent: string) => openCodeCache(fs, { env: { NODE_COMPILE_CACHE: parent }, uid: UID, tmpdir: '/nonexistent' });
  const root = mkdtempSync(join(tmpdir(), 'bore-cache-trust-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));

  const fine = join(root, 'fine');
  const made = open(fine);
  assert.ok(made, 'a fresh folder of our own');
  assert.equal(statSync(made.dir).mode & 0o777, 0o700);

  const open777 = join(root, 'open');
  mkdirSync(join(open777, `bore-code-cache-${UID}`), { recursive: true });
  chmodSync(join(open777, `bore-code-cache-${UID}`), 0o777);
  assert.equal(open(open777), undefined, 'writable by others');

  const loose = join(root, 'loose');
  mkdirSync(loose, { mode: 0o777 });
  chmodSync(loose, 0o777);
  assert.equal(open(loose), undefined, 'in a parent anyone can rename it out of');
  chmodSync(loose, 0o1777);
  assert.ok(open(loose), 'a sticky parent, as /tmp');

  const linked = join(root, 'linked');
  mkdirSync(join(linked, 'real'), { recursive: true, mode: 0o700 });
  symlinkSync(join(linked, 'real'), join(linked, `bore-code-cache-${UID}`));
  assert.equal(open(linked), undefined, 'a link');

  if (UID === 0) {
    const theirs = join(root, 'theirs');
    mkdirSync(join(theirs, `bore-code-cache-${UID}`), { recursive: true, mode: 0o700 });
    chownSync(join(theirs, `bore-code-cache-${UID}`), 4242, 4242);
    assert.equal(open(theirs), undefined, "another user's folder");
  } else {
    t.diagnostic("another user's folder: not checked (needs root to give a folder away)");
  }
});

test('a cache that cannot be used is compiled past, and a corrupt one is replaced', async (t) => {
  const dir = folder(t);
  const base = join(dir, 'cache');
  writeFileSync(join(dir, 'main.cjs'), computing(50));
  const first = await load(dir, 'main.cjs', base);
  const cacheDir = join(base, `bore-code-cache-${UID}`);
  const entry = readdirSync(cacheDir).find((f) => f.startsWith('main.cjs.'))!;
  writeFileSync(join(cacheDir, entry), Buffer.alloc(statSync(join(cacheDir, entry)).size, 7));
  const corrupt = await load(dir, 'main.cjs', base);
  assert.equal(corrupt.value, first.value);
  assert.equal(corrupt.cachedBytes, 0, 'V8 rejected it');
  const mended = await load(dir, 'main.cjs', base);
  assert.ok(mended.cachedBytes > 0, 'the rejected entry was written again');
});
