/**
 * What a start loads: a server and a client without TLS or a secret load neither Node's
 * `tls` nor its `crypto` before they are needed (`src/protocol/on-demand.ts`). Together
 * some 15 ms of a start and 4 MB of an idle process's resident memory (issue 23's
 * start-up and memory rows, `bench/listen-start.ts`). A client given addresses, not
 * names, never loads `dns`; one whose local service is a name loads it once listening,
 * before its first visitor (`warmLookup`), not before. Nor do they load yargs (the quick
 * parse reads a plain command line, `src/cli/quick-args.ts`), winston (the CLI writes
 * its lines itself, `src/log/line-logger.ts`), or the fs streams, readline and
 * worker_threads that an ES import of `node:fs` or `node:util` loads through their lazy
 * exports (`scripts/bundle-cli.ts`); and a command loads its code in a few files, none of
 * which imports a built-in as an ES module. The CLI runs as users run it, with a preload
 * that prints `process.moduleLoadList` and the bundle's files on SIGUSR2. Neither loads
 * `perf_hooks`, which the `performance` global does at its first read (`monotonicMs`).
 */
import { type TestContext, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type BoreProcess, connect, roundTrip, startClient, startEchoServer, startServer } from './helpers/procs.js';

const REPORTER = fileURLToPath(new URL('./helpers/report-builtins.mjs', import.meta.url));
const ENV = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${REPORTER}`.trim() };

/** The built-in modules `proc` has loaded by now. */
async function builtinsOf(proc: BoreProcess): Promise<string[]> {
  return (await loadedBy(proc)).builtins;
}

/** The built-in modules `proc` has loaded by now, and the files (URLs). */
async function loadedBy(proc: BoreProcess): Promise<{ builtins: string[]; files: string[] }> {
  const from = proc.output.length;
  proc.proc.kill('SIGUSR2');
  const m = await proc.waitFor(/built-ins loaded: ([^\n]*)\n\nfiles loaded: ([^\n]*)\n/, 10_000, from);
  return { builtins: m[1]!.split(' '), files: m[2]!.split(' ').filter((f) => f !== '') };
}

/** The packages (`node_modules/<name>`) and our sources the bundle's `files` were built from, read from their source maps. */
function sourcesOf(files: string[]): Set<string> {
  const sources = new Set<string>();
  for (const file of files) {
    const map = `${fileURLToPath(file)}.map`;
    if (!existsSync(map)) continue;
    for (const source of (JSON.parse(readFileSync(map, 'utf8')) as { sources: string[] }).sources) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(source);
      sources.add(pkg ? pkg[1]! : source.replace(/^(\.\.\/)+/, ''));
    }
  }
  return sources;
}

/** An echo service and a server without TLS or a secret that reports what it loads, both stopped after `t`. */
async function plainServer(t: TestContext) {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const server = await startServer(['--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1'], ENV);
  t.after(() => server.stop());
  return { echo, server };
}

/** A client without TLS or a secret of the echo service on `echoPort`, reporting what it loads, stopped after `t`. */
async function plainClient(t: TestContext, echoPort: number, controlPort: number) {
  const client = await startClient(echoPort, controlPort, ['--local-host', '127.0.0.1'], ENV);
  t.after(() => client.stop());
  return client;
}

/** A static ES import of a built-in, in minified code: `from"node:module"`, `from "fs"`. */
const ES_IMPORT_OF_BUILTIN = new RegExp(
  `\\bfrom\\s*["'](?:${builtinModules.map((id) => id.replace(/^node:/, '').replace(/[/]/g, '\\/')).join('|')}|node:[^"']+)["']`,
);

/** The built-ins an ES import of `node:fs` or `node:util` loads through their lazy exports (streams, readline, workers). */
const FACADE_LOADS = ['internal/fs/streams', 'fs/promises', 'internal/readline/interface', 'internal/repl/history', 'worker_threads'];

test(
  'a plain server and client start without loading tls or crypto; the server loads crypto for its first client',
  { timeout: 60_000 },
  async (t) => {
    const { echo, server } = await plainServer(t);
    const atStart = await builtinsOf(server);
    assert.ok(atStart.includes('net'), `the report lists what was loaded: ${atStart.join(' ')}`);
    assert.ok(!atStart.includes('tls') && !atStart.includes('crypto'), `server at start: ${atStart.join(' ')}`);

    const client = await plainClient(t, echo.port, server.controlPort);
    const visitor = await connect(client.publicPort);
    assert.equal((await roundTrip(visitor, Buffer.from('hello'))).toString(), 'hello');
    visitor.destroy();
    const clientLoaded = await builtinsOf(client);
    assert.ok(!clientLoaded.includes('tls') && !clientLoaded.includes('crypto'), `client after a visitor: ${clientLoaded.join(' ')}`);
    // Its server and its local service are addresses: nothing to look up.
    assert.ok(!clientLoaded.includes('dns'), `client after a visitor: ${clientLoaded.join(' ')}`);
    // The server makes a random id per client and per visitor: crypto, still not tls.
    const serverLoaded = await builtinsOf(server);
    assert.ok(serverLoaded.includes('crypto') && !serverLoaded.includes('tls'), `server after a visitor: ${serverLoaded.join(' ')}`);
    // Their clocks are process.hrtime's: the `performance` global would load perf_hooks.
    for (const [name, loaded] of [
      ['client', clientLoaded],
      ['server', serverLoaded],
    ] as const)
      assert.ok(!loaded.includes('perf_hooks'), `${name} after a visitor: ${loaded.join(' ')}`);
  },
);

test('a client whose local service is a name looks it up once listening, before any visitor', { timeout: 60_000 }, async (t) => {
  const { echo, server } = await plainServer(t);
  const client = await startClient(echo.port, server.controlPort, ['--local-host', 'localhost'], ENV);
  t.after(() => client.stop());
  const loaded = await builtinsOf(client);
  assert.ok(loaded.includes('dns'), `client listening, no visitor yet: ${loaded.join(' ')}`);
  const visitor = await connect(client.publicPort);
  assert.equal((await roundTrip(visitor, Buffer.from('hello'))).toString(), 'hello');
  visitor.destroy();
});

test(
  'a plain server and client load neither yargs nor winston, nor what the lazy exports of fs and util would',
  { timeout: 60_000, skip: 'registerHooks' in (await import('node:module')).default ? false : 'module.registerHooks needs Node 22.15' },
  async (t) => {
    const { echo, server } = await plainServer(t);
    const client = await plainClient(t, echo.port, server.controlPort);
    for (const [name, proc, own] of [
      ['server', server, 'src/server/server.ts'],
      ['client', client, 'xstate'],
    ] as const) {
      const { builtins, files } = await loadedBy(proc);
      const sources = sourcesOf(files);
      // The source maps were read: the process's own code is among them.
      assert.ok(sources.has(own) && sources.has('src/cli/quick-args.ts'), `${name}: ${[...sources].join(' ')}`);
      for (const pkg of ['yargs', 'yargs-parser', 'winston', 'logform']) assert.ok(!sources.has(pkg), `${name} loaded ${pkg}`);
      // Nor the other command's code, and all in a few files (scripts/bundle-cli.ts): the
      // executable, the entry, the rolldown runtime, the shared core and the command's own.
      assert.ok(!sources.has(name === 'server' ? 'xstate' : 'src/server/server.ts'), `${name}: ${[...sources].join(' ')}`);
      const bundled = files.filter((f) => f.includes('/dist/bundle/'));
      assert.ok(bundled.length <= 5, `${name} loaded ${bundled.length} of the bundle's files: ${bundled.join(' ')}`);
      // None of them imports a built-in as an ES module (whose facade reads every export): a
      // bundler's own helpers did (rolldown's `require`, through `node:module`).
      for (const file of bundled) {
        const found = ES_IMPORT_OF_BUILTIN.exec(readFileSync(fileURLToPath(file), 'utf8'));
        assert.equal(found?.[0], undefined, `${name}: ${file}`);
      }
      for (const builtin of FACADE_LOADS) assert.ok(!builtins.includes(builtin), `${name} loaded ${builtin}: ${builtins.join(' ')}`);
    }
  },
);
