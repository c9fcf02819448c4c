/**
 * The failed-handshake cool-down between real processes: wrong secrets from the
 * tunnels' own address (another user of the host, a NAT, a client with a stale secret)
 * cut no tunnel that is up, on the standard path or through the pool; a new tunnel from
 * that address is refused with a message that says why, and comes up once the
 * cool-down is over.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Authenticator } from '../src/protocol/auth.js';
import { ServerErrors } from '../src/server/ports.js';
import { rawConnect } from './helpers/raw-peer.js';
import { BoreProcess, connect, roundTrip, startClient, startEchoServer, startServer } from './helpers/procs.js';

const SECRET = 'cool-down-e2e-secret';
const procs: BoreProcess[] = [];

after(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
});

/** One wrong answer to the server's challenge, as a guesser or a client with a stale secret sends it. */
async function wrongSecret(controlPort: number): Promise<void> {
  const framed = await rawConnect(controlPort);
  const ch = await framed.recv();
  if (ch?.type === 'Challenge') framed.send({ type: 'Authenticate', tag: new Authenticator('a stale secret').answer(ch.id) });
  framed.send({ type: 'Hello', port: 0 });
  assert.deepEqual(await framed.recv(), { type: 'Error', message: ServerErrors.invalidSecret });
  framed.socket.destroy();
}

/** Sends `count` visitors through `port` one after another; resolves with how many got their bytes back. */
async function visitors(port: number, count: number): Promise<number> {
  let served = 0;
  for (let i = 0; i < count; i++) {
    const payload = randomBytes(1024);
    const back = await roundTrip(await connect(port), payload).catch(() => Buffer.alloc(0));
    if (back.equals(payload)) served++;
  }
  return served;
}

test(
  'a cool-down cuts no tunnel that is up (pool off and on); a new tunnel is refused with the reason, and comes up after it',
  { timeout: 60_000 },
  async () => {
    const echo = await startEchoServer();
    const server = await startServer(
      ['--min-port', '26400', '--max-port', '26499', '--max-auth-failures', '3', '--auth-failure-window', '4', '--log-level', 'debug'],
      { BORE_SECRET: SECRET },
    );
    procs.push(server);
    const standard = await startClient(echo.port, server.controlPort, ['--pool', '0'], { BORE_SECRET: SECRET });
    const pooled = await startClient(echo.port, server.controlPort, ['--pool', '4', '--log-level', 'debug'], { BORE_SECRET: SECRET });
    procs.push(standard, pooled);
    await pooled.waitFor(/pool: ready/);

    for (let i = 0; i < 3; i++) await wrongSecret(server.controlPort);
    await server.waitFor(/too many failed handshakes, refusing address/);

    // Every visitor of both tunnels is served during the cool-down (before the change: none).
    assert.equal(await visitors(standard.publicPort, 10), 10, 'the standard path (Connection, then Accept)');
    assert.equal(await visitors(pooled.publicPort, 10), 10, 'the pool (PoolJoin of replacements)');

    // A new tunnel from the same address is refused, says why, and retries until it is up.
    const late = new BoreProcess(
      ['local', String(echo.port), '--to', '127.0.0.1', '--control-port', String(server.controlPort), '--retry-first'],
      { BORE_SECRET: SECRET },
    );
    procs.push(late);
    await late.waitFor(/too many failed handshakes from this address, try again later/);
    await late.waitFor(/listening at 127\.0\.0\.1:\d+/, 20_000);
    assert.doesNotMatch(late.output, /no secret was required|invalid secret/);
    assert.equal(standard.proc.exitCode, null);
    assert.equal(pooled.proc.exitCode, null);
    await echo.close();
  },
);
