/**
 * The package as npm ships it: what `npm pack` puts in the tarball, the manifest
 * without `prepare`, `require('bore-ts')` next to `import`, and the `bore` executable
 * (the Node.js version check that runs first, source maps left off, crash reports
 * mapped back to src/*.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MIN_NODE, nodeVersionProblem } from '../src/cli/node-version.js';
import { withoutPrepare } from '../scripts/pack-manifest.js';
import { CLI } from './helpers/procs.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
const PROBE = fileURLToPath(new URL('./helpers/source-map-probe.mjs', import.meta.url));
const manifestText = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
const manifest = JSON.parse(manifestText) as {
  bin: { bore: string };
  engines: { node: string };
  scripts: Record<string, string>;
};
const BIN = fileURLToPath(new URL(`../${manifest.bin.bore}`, import.meta.url));
const BUNDLE = fileURLToPath(new URL('../dist/bundle/cli.cjs', import.meta.url));

test('the version check: older than engines.node is refused in one line, the rest passes', () => {
  assert.equal(manifest.engines.node, `>=${MIN_NODE.join('.')}`);
  assert.equal(nodeVersionProblem('18.20.8'), 'bore needs Node.js >= 20.19, this is 18.20.8');
  assert.equal(nodeVersionProblem('v20.18.3'), 'bore needs Node.js >= 20.19, this is 20.18.3');
  assert.equal(nodeVersionProblem('16.0.0'), 'bore needs Node.js >= 20.19, this is 16.0.0');
  for (const ok of ['20.19.0', '20.20.2', '21.0.0', '22.23.0', '24.21.1', '100.0.0']) {
    assert.equal(nodeVersionProblem(ok), undefined, ok);
  }
  // Unreadable: let it run rather than refuse a Node we do not understand.
  assert.equal(nodeVersionProblem('nightly'), undefined);
});

test(
  'bore on an old Node prints one line and exits 1, without loading the CLI',
  { skip: CLI === BIN ? false : `runs bin.bore, and BORE_CLI points at ${CLI}` },
  async () => {
    // What Node 18 reports, faked before the executable runs (process.versions is configurable).
    const fake = `data:text/javascript,Object.defineProperty(process.versions,'node',{value:'18.20.8'})`;
    const err = await run(process.execPath, ['--import', fake, BIN, '--help']).then(
      () => assert.fail('should exit 1'),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    assert.equal(err.code, 1);
    assert.equal(err.stdout, '');
    assert.equal(err.stderr, 'bore needs Node.js >= 20.19, this is 18.20.8\n');
  },
);

test('the executable leaves source maps off: Node holds no map for the bundle', async () => {
  const { stdout, stderr } = await run(process.execPath, ['--import', PROBE, BIN, '--version'], {
    env: { ...process.env, PROBE_BUNDLE: BUNDLE },
  });
  assert.equal(stdout.trim(), (JSON.parse(manifestText) as { version: string }).version);
  assert.match(stderr, /source map probe: enabled=false map=none/, stderr);
});

test('a crash in the bundled CLI is reported against src/*.ts, and exits 1', async () => {
  const server = spawn(process.execPath, ['--import', PROBE, BIN, 'server', '--control-port', '0', '--bind-addr', '127.0.0.1'], {
    env: { ...process.env, PROBE_BUNDLE: BUNDLE, PROBE_CRASH: '1', BORE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  server.stdout.on('data', (d: Buffer) => (output += d.toString()));
  server.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = once(server, 'exit') as Promise<[number | null, string | null]>;
  try {
    // Wait for the line on the output events themselves, not by polling.
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (/server listening .*port=\d+/.test(output)) resolve();
      };
      server.stderr.on('data', check);
      server.stdout.on('data', check);
      server.once('exit', () => reject(new Error(`the server exited: ${output}`)));
      check();
    });
    const port = Number(/server listening .*port=(\d+)/.exec(output)![1]);
    // The server's connection listener throws (the probe), outside any promise.
    connect(port, '127.0.0.1').on('error', () => {});
    const [code] = await exited;
    assert.equal(code, 1, output);
    assert.match(output, /Error: probe: crash in the connection listener/, output);
    assert.match(output, /^ {4}at .*[/\\]src[/\\]server[/\\]server\.ts:\d+:\d+\)?$/m, output);
    assert.doesNotMatch(output, /dist[/\\]bundle[/\\][^\s]*\.[cm]js:\d+:\d+/, output);
    // Mapped by the crash report, not by Node's source-map support.
    assert.match(output, /source map probe: enabled=false map=none/, output);
  } finally {
    server.kill();
  }
});

test("require('bore-ts') works as well as import (the `default` export condition)", async () => {
  // A plain node, without tsx's hooks: Node's own require(esm), the package found by self-reference.
  const { stdout } = await run(
    process.execPath,
    ['-e', "const b = require('bore-ts'); console.log(typeof b.startTunnel, typeof b.BoreServer, b.DEFAULT_CONTROL_PORT)"],
    { cwd: ROOT },
  );
  assert.equal(stdout.trim(), 'function function 7835');
});

test('the tarball: the executable, the bundle and its maps, the library, the licence and what the README shows and links', async () => {
  // --ignore-scripts: list the files without rebuilding dist/ under the other tests' feet.
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT });
  const [pack] = JSON.parse(stdout) as { files: { path: string }[] }[];
  const files = new Set(pack!.files.map((f) => f.path));
  for (const f of [
    'LICENSE',
    'README.md',
    'package.json',
    manifest.bin.bore,
    'dist/bundle/cli.cjs',
    'dist/bundle/cli.cjs.map',
    'dist/src/index.js',
    'dist/src/index.d.ts',
    'docs/inspector.png',
    'docs/design.md',
    'docs/operations.md',
    'docs/library.md',
    'examples/http-service.ts',
    'examples/bore.toml',
  ]) {
    assert.ok(files.has(f), `${f} is shipped`);
  }
  const unwanted = [...files].filter((f) =>
    /^(src|test|bench|scripts|machines)\/|^dist\/src\/(cli|bin|config)\.|^dist\/(bore-linux-x64|exe-build)|tsconfig/.test(f),
  );
  assert.deepEqual(
    unwanted,
    [],
    'sources, tests, the unbundled CLI (and its config file reader), the single-file executable (npm run build:exe) and tsconfigs stay out',
  );
});

test('the packed manifest has no prepare script and is otherwise package.json as it is', () => {
  assert.ok(manifest.scripts.prepare, 'a clone still builds on npm ci');
  const packed = JSON.parse(withoutPrepare(manifestText)) as typeof manifest;
  assert.equal(packed.scripts.prepare, undefined);
  const { prepare: _prepare, ...otherScripts } = manifest.scripts;
  assert.deepEqual(packed, { ...manifest, scripts: otherScripts });
});

test('the production install holds as many packages as CONTRIBUTING.md says', async () => {
  // What an install of the package brings: the production tree, bore-ts included.
  const { stdout } = await run('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT });
  const count = stdout.split('\n').filter((line) => line.trim() !== '').length;
  const stated = /An install of the package holds (\d+) packages/.exec(
    readFileSync(new URL('../CONTRIBUTING.md', import.meta.url), 'utf8'),
  );
  assert.ok(stated, 'CONTRIBUTING.md states the count');
  assert.equal(count, Number(stated[1]), `npm ls counts ${count} packages; CONTRIBUTING.md says ${stated[1]}`);
});
