/**
 * Properties of the bundled CLI (`scripts/bundle-cli.ts`) that no other test sees: yargs's
 * help rendering (cliui, string-width) is evaluated only when help or an error is
 * printed, so a running tunnel never loads the ICU data behind it (about 2.6 MB of
 * resident memory for the life of the process). And the code cache is on: a run leaves
 * the CLI's compiled code in the temporary folder for the next start
 * (`src/cli/chunk-loader.ts`; `test/chunk-loader.test.ts` tests it closely). And the
 * bundle's files are ASCII (rolldown's `charset`), so V8 holds their sources one byte a
 * character.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { importedNames } from '../scripts/bundle-plugins.js';
import { CLI } from './helpers/procs.js';

const COUNTER = fileURLToPath(new URL('./helpers/count-segmenters.mjs', import.meta.url));

/** Runs the CLI with the Intl.Segmenter counter preloaded; resolves with the count it printed. */
function segmentersBuilt(args: string[]): Promise<{ count: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', COUNTER, CLI, ...args], { timeout: 20_000 }, (_err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      const m = output.match(/Intl\.Segmenter objects built: (\d+)/);
      resolve({ count: m ? Number(m[1]) : -1, output });
    });
  });
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

const bundled = /[\\/]dist[\\/]bundle[\\/]/.test(CLI);

test(
  'help output renders with cliui; a client that runs never builds its Intl.Segmenter objects',
  {
    timeout: 30_000,
    skip: bundled ? false : `checks the bundle, and BORE_CLI points at ${CLI}`,
  },
  async () => {
    const help = await segmentersBuilt(['local', '--help']);
    assert.match(help.output, /--heartbeat-timeout/, help.output);
    assert.ok(help.count > 0, `help should render through string-width: ${help.output}`);

    // A client whose server is unreachable: parses, logs, connects, fails, exits 4.
    const run = await segmentersBuilt(['local', '3000', '--to', '127.0.0.1', '--control-port', String(await closedPort())]);
    assert.match(run.output, /ECONNREFUSED/, run.output);
    assert.equal(run.count, 0, run.output);
  },
);

test(
  'the code cache: a run of the CLI leaves its compiled chunks under TMPDIR, the next starts from them; NODE_DISABLE_COMPILE_CACHE=1 leaves none',
  { skip: bundled ? false : `checks the bundle, and BORE_CLI points at ${CLI}` },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'bore-compile-cache-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const { NODE_COMPILE_CACHE: _, ...inherited } = process.env;
    const version = (env: Record<string, string>) =>
      new Promise<void>((resolve, reject) =>
        execFile(process.execPath, [CLI, '--version'], { env: { ...inherited, TMPDIR: dir, ...env }, timeout: 20_000 }, (err) =>
          err ? reject(new Error(`bore --version failed: ${err.message}`)) : resolve(),
        ),
      );
    const cacheDir = join(dir, `bore-code-cache-${process.getuid?.() ?? 0}`);
    await version({ NODE_DISABLE_COMPILE_CACHE: '1' });
    assert.deepEqual(readdirSync(dir), []);
    await version({});
    const entries = readdirSync(cacheDir);
    assert.ok(
      entries.some((f) => f.startsWith('cli.cjs.')),
      `cache entries written: ${entries.join(', ')}`,
    );
    const written = new Map(entries.map((f) => [f, statSync(join(cacheDir, f)).mtimeMs]));
    await version({});
    // Started from them (V8 accepted each), so nothing was written again (a rejected one would be).
    assert.deepEqual(new Map(readdirSync(cacheDir).map((f) => [f, statSync(join(cacheDir, f)).mtimeMs])), written);
  },
);

test(
  'the CLI bundle holds no winston: the CLI writes its lines itself (src/log/line-logger.ts)',
  { skip: bundled ? false : `checks the bundle, and BORE_CLI points at ${CLI}` },
  () => {
    const dir = dirname(CLI);
    const sources = readdirSync(dir)
      .filter((f) => f.endsWith('.cjs.map'))
      .flatMap((f) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { sources: string[] }).sources);
    assert.ok(
      sources.some((s) => s.includes('src/log/line-logger.ts')),
      'the bundle holds the line logger',
    );
    assert.deepEqual(
      sources.filter((s) => /node_modules\/(winston|logform|@dabh\/diagnostics)\//.test(s)),
      [],
    );
  },
);

test(
  "the bundle's files are ASCII: one other character makes V8 keep a module's whole source as a two-byte string",
  { skip: bundled ? false : `checks the bundle, and BORE_CLI points at ${CLI}` },
  () => {
    const dir = dirname(CLI);
    const files = readdirSync(dir).filter((f) => /\.[cm]js$/.test(f));
    assert.ok(files.length >= 5, files.join(' '));
    for (const file of files) {
      const at = readFileSync(join(dir, file)).findIndex((byte) => byte > 0x7f);
      assert.equal(at, -1, `${file}: a byte above 0x7f at ${at}`);
    }
  },
);

test('the bundle takes each built-in by the names its importer imports, without its ES facade', () => {
  const source = [
    "import fs, { readFileSync, type Stats, existsSync as exists } from 'node:fs';",
    "import type { Socket } from 'node:net';",
    "import { once } from 'node:events';",
    "import * as path from 'node:path';",
  ].join('\n');
  assert.deepEqual(importedNames(source, 'node:fs'), ['readFileSync', 'existsSync']);
  assert.deepEqual(importedNames(source, 'node:events'), ['once']);
  // A namespace needs every export; a type import or no import, the module as CommonJS.
  assert.equal(importedNames(source, 'node:path'), undefined);
  assert.equal(importedNames(source, 'node:net'), undefined);
});
