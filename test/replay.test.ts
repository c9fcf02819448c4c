/**
 * The recorded Rust sessions (`wire/*.json`) replayed against our client: a scripted
 * peer plays the Rust server's recorded bytes to OUR client (in-process `startTunnel`
 * and the CLI) and checks that our client sends the recorded bytes. Our server against
 * the recorded Rust client is `replay-server.test.ts`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { startTunnel } from '../src/run/tunnel.js';
import { TUNNEL_DEFAULTS } from '../src/client/defaults.js';
import { BoreProcess, startEchoServer } from './helpers/procs.js';
import { ByteReader, type Transcript, deferred, loadTranscripts, stepBytes } from './helpers/replay.js';

const transcripts = loadTranscripts();

test('all six recorded scenarios are present', () => {
  assert.deepEqual(transcripts.map((t) => t.scenario).sort(), [
    'auth',
    'missing_secret',
    'noauth',
    'out_of_range',
    'port_in_use',
    'wrong_secret',
  ]);
});

// ---------------------------------------------------------------------------------
// Our client against the recorded Rust server.

/** What a client run ended with. */
interface Outcome {
  exitCode: number | null;
  code?: string;
  class?: string;
  message: string;
}

/** Our client, in-process or as the CLI, driven the same way. */
interface ClientUnderTest {
  ready: Promise<number>;
  done: Promise<Outcome>;
  stop(): Promise<Outcome>;
  output(): string;
}

interface ClientOptions {
  localPort: number;
  controlPort: number;
  port: number;
  secret: string | undefined;
}

function libraryClient(o: ClientOptions): ClientUnderTest {
  const tunnel = startTunnel({ to: '127.0.0.1', localPort: o.localPort, controlPort: o.controlPort, port: o.port, secret: o.secret });
  let over = false;
  const done = tunnel.done.then((r) => {
    over = true;
    return { exitCode: r.exitCode, code: r.error?.code, class: r.error?.class, message: r.error?.message ?? '' };
  });
  return { ready: tunnel.ready, done, stop: () => (over ? done : tunnel.stop().then(() => done)), output: () => '' };
}

function cliClient(o: ClientOptions): ClientUnderTest {
  const args = ['local', String(o.localPort), '--to', '127.0.0.1', '--control-port', String(o.controlPort), '--port', String(o.port)];
  if (o.secret) args.push('--secret', o.secret);
  const proc = new BoreProcess(args);
  const ready = proc.waitFor(/listening at 127\.0\.0\.1:(\d+)/).then((m) => Number(m[1]));
  ready.catch(() => {});
  const done = proc.exited.then((exitCode) => {
    // The human log line: `<time> ERROR <message> key=value ...`.
    const line = proc.output.match(/ ERROR +(.*)$/m)?.[1] ?? '';
    const field = (k: string) => line.match(new RegExp(` ${k}=(\\S+)`))?.[1];
    return { exitCode, code: field('code'), class: field('class'), message: line.split(/ [a-zA-Z]+=/)[0]! };
  });
  return { ready, done, stop: () => proc.stop().then(() => done), output: () => proc.output };
}

/** How a refused client must end, from the server's last message to it. */
function expectedFailure(t: Transcript, errorText: string | undefined): { code: string; class: string; exitCode: number; message: string } {
  if (t.client_secret === null && t.server_secret !== null) {
    // The Rust server's Challenge arrives where the client expects the Hello reply.
    return {
      code: 'secret-required',
      class: 'fatal',
      exitCode: 3,
      message: 'server requires authentication, but no client secret was provided',
    };
  }
  const codes: Record<string, [string, string]> = {
    'invalid secret': ['invalid-secret', 'fatal'],
    'client port number not in allowed range': ['port-not-allowed', 'fatal'],
    'port already in use': ['port-in-use', 'retriable'],
  };
  const [code, cls] = codes[errorText!] ?? assert.fail(`no expectation for server error ${errorText}`);
  // Retriable errors on a first attempt end the client with "gave up" (4), fatal ones with 3.
  return { code, class: cls, exitCode: cls === 'fatal' ? 3 : 4, message: `server error: ${errorText}` };
}

async function replayServerSide(t: Transcript, mode: 'library' | 'cli'): Promise<void> {
  const echo = await startEchoServer();
  const conns = t.connections;
  const finished = conns.map(() => deferred());
  const readers: ByteReader[] = [];
  const sockets: net.Socket[] = [];
  const unexpected = deferred();

  /** The index of the data connection that claims connection `id`. */
  const dataIndexOf = (id: string) =>
    conns.findIndex(
      (c) => c.kind === 'data' && c.steps.some((s) => s.dir === 'c2s' && s.kind === 'frames' && s.frames.includes(`{"Accept":"${id}"}`)),
    );

  /** Plays the recorded server side of connection `i`. */
  async function play(i: number, socket: net.Socket, reader: ByteReader): Promise<void> {
    const steps = conns[i]!.steps;
    for (const step of steps) {
      if (step.dir === 'c2s') {
        const want = stepBytes(step);
        const got = await reader.read(want.length);
        assert.equal(got.toString('latin1'), want.toString('latin1'), `${t.scenario}: bytes from our client on connection ${i}`);
        continue;
      }
      if (step.kind === 'raw') {
        socket.write(step.data);
        continue;
      }
      let batch = '';
      for (const frame of step.frames) {
        const m = frame.match(/^\{"Connection":"(.*)"\}$/);
        if (m) {
          // Announce a public connection only once every connection recorded before its
          // data connection has played out (e.g. the second client in port_in_use).
          const d = dataIndexOf(m[1]!);
          assert.ok(d > i, `no data connection for ${m[1]}`);
          if (batch) socket.write(batch);
          batch = '';
          for (let j = 0; j < d; j++) if (j !== i) await finished[j]!.promise;
        }
        batch += `${frame}\0`;
      }
      if (batch) socket.write(batch);
    }
    const last = steps.at(-1)!;
    if (last.dir === 's2c' && last.kind === 'frames' && last.frames.some((f) => f.startsWith('{"Error":'))) {
      // The Rust server closes after an Error; our client must close its side as well.
      socket.end();
      await reader.end();
    }
  }

  const server = net.createServer((socket) => {
    const i = sockets.length;
    sockets.push(socket);
    const reader = new ByteReader(socket);
    readers.push(reader);
    if (i >= conns.length) {
      unexpected.reject(new Error(`our client opened connection #${i + 1}; the recording has ${conns.length}`));
      return;
    }
    play(i, socket, reader).then(
      () => finished[i]!.resolve(),
      (err: unknown) => finished[i]!.reject(err),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const controlPort = (server.address() as net.AddressInfo).port;

  const running: ClientUnderTest[] = [];
  try {
    // One client per recorded control connection, started in the recorded order.
    for (const [i, conn] of conns.entries()) {
      if (conn.kind !== 'control') continue;
      const client = (mode === 'library' ? libraryClient : cliClient)({
        localPort: echo.port,
        controlPort,
        port: t.requested_port,
        secret: t.client_secret ?? undefined,
      });
      running.push(client);
      const s2c = conn.steps.flatMap((s) => (s.dir === 's2c' && s.kind === 'frames' ? s.frames : []));
      const errorText = s2c.map((f) => f.match(/^\{"Error":"(.*)"\}$/)?.[1]).find((x) => x !== undefined);
      // A failing script ends the wait at once instead of at the test's timeout.
      const orFail = <T>(p: Promise<T>) => Promise.race([p, finished[i]!.promise.then(() => p), unexpected.promise.then(() => p)]);
      if (s2c.some((f) => f.startsWith('{"Hello":'))) {
        const port = await orFail(client.ready);
        assert.equal(
          port,
          Number(s2c.find((f) => f.startsWith('{"Hello":'))!.match(/\d+/)![0]),
          'our client reports the port the server opened',
        );
      } else {
        const outcome = await orFail(client.done);
        const want = expectedFailure(t, errorText);
        assert.deepEqual(outcome, { exitCode: want.exitCode, code: want.code, class: want.class, message: want.message }, client.output());
        if (mode === 'cli') assert.ok(client.output().includes(want.message), client.output());
        await finished[i]!.promise;
      }
    }
    await Promise.race([Promise.all(finished.map((f) => f.promise)), unexpected.promise]);
    assert.equal(sockets.length, conns.length, 'our client opened exactly the recorded connections');
    // Our client's one addition on the wire, which a Rust server never reads: after the
    // Hello reply it asks for a pool of data connections (no offer comes; see pool.test.ts).
    const poolRequest = `{"PoolRequest":${TUNNEL_DEFAULTS.pool}}\0`;
    for (const [i, conn] of conns.entries()) {
      const opened = conn.steps.some((s) => s.dir === 's2c' && s.kind === 'frames' && s.frames.some((f) => f.startsWith('{"Hello":')));
      if (conn.kind !== 'control' || !opened) continue;
      const got = await readers[i]!.read(poolRequest.length);
      assert.equal(got.toString('latin1'), poolRequest, `connection ${i}: the pool request after Hello`);
    }
    for (const [i, r] of readers.entries())
      assert.equal(r.buffered.length, 0, `connection ${i}: unexpected extra bytes ${JSON.stringify(r.buffered.toString('latin1'))}`);
    for (const client of running) {
      if (t.client_secret) assert.ok(!client.output().includes(t.client_secret), 'the secret is never printed');
    }
  } finally {
    // Close the tunneled connections first so that stopping has nothing to drain.
    for (const [i, s] of sockets.entries()) if (conns[i]?.kind !== 'control') s.destroy();
    const outcomes = await Promise.all(running.map((c) => c.stop()));
    for (const s of sockets) s.destroy();
    server.close();
    await echo.close();
    // A client that was listening stops cleanly (0) when asked to.
    for (const [k, o] of outcomes.entries())
      if (o.code === undefined) assert.equal(o.exitCode, 0, `client ${k} stopped with ${o.exitCode}`);
  }
}

for (const t of transcripts) {
  for (const mode of ['library', 'cli'] as const) {
    test(`our client (${mode}) against the recorded Rust server: ${t.scenario}`, { timeout: 30_000 }, () => replayServerSide(t, mode));
  }
}
