/**
 * What a start loads: a server and a client without TLS or a secret load neither Node's
 * `tls` nor its `crypto` before they are needed (`src/protocol/on-demand.ts`). Together
 * some 15 ms of a start and 4 MB of an idle process's resident memory (issue 23's
 * start-up and memory rows, `bench/listen-start.ts`). The CLI runs as users run it, with
 * a preload that prints `process.moduleLoadList` on SIGUSR2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { type BoreProcess, connect, roundTrip, startClient, startEchoServer, startServer } from './helpers/procs.js';

const REPORTER = fileURLToPath(new URL('./helpers/report-builtins.mjs', import.meta.url));
const ENV = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${REPORTER}`.trim() };

/** The built-in modules `proc` has loaded by now. */
async function builtinsOf(proc: BoreProcess): Promise<string[]> {
  const from = proc.output.length;
  proc.proc.kill('SIGUSR2');
  const m = await proc.waitFor(/built-ins loaded: ([^\n]*)\n/, 10_000, from);
  return m[1]!.split(' ');
}

test(
  'a plain server and client start without loading tls or crypto; the server loads crypto for its first client',
  { timeout: 60_000 },
  async (t) => {
    const echo = await startEchoServer();
    t.after(() => echo.close());
    const server = await startServer(['--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1'], ENV);
    t.after(() => server.stop());
    const atStart = await builtinsOf(server);
    assert.ok(atStart.includes('net'), `the report lists what was loaded: ${atStart.join(' ')}`);
    assert.ok(!atStart.includes('tls') && !atStart.includes('crypto'), `server at start: ${atStart.join(' ')}`);

    const client = await startClient(echo.port, server.controlPort, ['--local-host', '127.0.0.1'], ENV);
    t.after(() => client.stop());
    const visitor = await connect(client.publicPort);
    assert.equal((await roundTrip(visitor, Buffer.from('hello'))).toString(), 'hello');
    visitor.destroy();
    const clientLoaded = await builtinsOf(client);
    assert.ok(!clientLoaded.includes('tls') && !clientLoaded.includes('crypto'), `client after a visitor: ${clientLoaded.join(' ')}`);
    // The server makes a random id per client and per visitor: crypto, still not tls.
    const serverLoaded = await builtinsOf(server);
    assert.ok(serverLoaded.includes('crypto') && !serverLoaded.includes('tls'), `server after a visitor: ${serverLoaded.join(' ')}`);
  },
);
