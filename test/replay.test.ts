/**
 * The recorded Rust sessions (`wire/*.json`) replayed against our code, both ways:
 *
 * - a scripted peer plays the Rust server's recorded bytes to OUR client (in-process
 *   `startTunnel` and the CLI) and checks that our client sends the recorded bytes;
 * - a scripted peer plays the Rust client's recorded bytes to OUR server and checks
 *   that our server answers with the recorded bytes.
 *
 * Only what is random is substituted: challenge and connection UUIDs when our server
 * picks them, the Authenticate tags that follow from them, and the public ports (the
 * recording used 20000-20100; our server here uses 21000-21100).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { startTunnel } from '../src/run/tunnel.js';
import { TUNNEL_DEFAULTS } from '../src/client/defaults.js';
import { BoreServer } from '../src/server/server.js';
import { Authenticator } from '../src/protocol/auth.js';
import { BoreProcess, startEchoServer } from './helpers/procs.js';
import { ByteReader, type Transcript, deferred, loadTranscripts, openReader, stepBytes } from './helpers/replay.js';

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

// ---------------------------------------------------------------------------------
// Our server against the recorded Rust client.

const RECORDED_MIN = 20000;
const RECORDED_MAX = 20100;
const OUR_MIN = 21000;
const OUR_MAX = 21100;

/** Maps a recorded public port into our range; ports outside the recorded range stay. */
function mapPort(port: number): number {
  return port >= RECORDED_MIN && port <= RECORDED_MAX ? port - RECORDED_MIN + OUR_MIN : port;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function replayClientSide(t: Transcript): Promise<void> {
  const server = new BoreServer({
    controlPort: 0,
    bindAddr: '127.0.0.1',
    bindTunnels: '127.0.0.1',
    minPort: OUR_MIN,
    maxPort: OUR_MAX,
    secret: t.server_secret ?? undefined,
  });
  const controlPort = await server.listen();
  /** Recorded random UUIDs → the ones our server chose. */
  const ids = new Map<string, string>();
  /** Public users, by our connection id. */
  const publicUsers = new Map<string, ByteReader>();
  const opened: net.Socket[] = [];
  let publicPort: number | undefined;
  let pendingPublic: ByteReader | undefined;
  let heartbeatWatch: ByteReader | undefined;

  const open = (port: number) => openReader(port, opened);

  try {
    for (const [i, conn] of t.connections.entries()) {
      const where = `${t.scenario} connection ${i}`;
      const control = await open(controlPort);
      let challenge: { recorded: string; ours: string } | undefined;
      let claimed: string | undefined;
      let lastFrame: string | undefined;
      let tunnelOpen = false;

      for (const step of conn.steps) {
        if (step.kind === 'raw') {
          const user = publicUsers.get(claimed!)!;
          if (step.dir === 's2c') {
            // What the public user wrote comes out of the data connection unchanged.
            user.socket.write(step.data);
            assert.equal((await control.read(step.data.length)).toString('latin1'), step.data.toString('latin1'), `${where}: raw bytes`);
          } else {
            control.socket.write(step.data);
            assert.equal((await user.read(step.data.length)).toString('latin1'), step.data.toString('latin1'), `${where}: raw bytes back`);
          }
          continue;
        }
        if (step.dir === 'c2s') {
          const frames = step.frames.map((f) => {
            const hello = f.match(/^\{"Hello":(\d+)\}$/);
            if (hello) return `{"Hello":${mapPort(Number(hello[1]))}}`;
            const auth = f.match(/^\{"Authenticate":"([0-9a-f]{64})"\}$/);
            if (auth) {
              assert.ok(challenge, `${where}: Authenticate without a challenge`);
              const key = new Authenticator(t.client_secret!);
              assert.equal(key.answer(challenge.recorded), auth[1], `${where}: the recorded tag answers the recorded challenge`);
              return `{"Authenticate":"${key.answer(challenge.ours)}"}`;
            }
            const accept = f.match(/^\{"Accept":"(.*)"\}$/);
            if (accept) {
              claimed = ids.get(accept[1]!);
              assert.ok(claimed, `${where}: Accept of an unknown connection`);
              return `{"Accept":"${claimed}"}`;
            }
            return f;
          });
          // One write, as the Rust client's frames arrived together.
          control.socket.write(frames.map((f) => `${f}\0`).join(''));
          continue;
        }
        // s2c frames: the non-heartbeat ones must match, heartbeats come where they must.
        for (const recorded of step.frames) {
          if (recorded === '"Heartbeat"') continue;
          if (recorded.startsWith('{"Connection":')) {
            // The recorded server announced a public connection: make one.
            assert.ok(publicPort, `${where}: Connection before Hello`);
            pendingPublic = await open(publicPort);
          }
          let ours = await control.frame();
          // Interval heartbeats may come anywhere once the tunnel is open, never before.
          while (ours === '"Heartbeat"' && tunnelOpen) ours = await control.frame();
          assert.notEqual(ours, '"Heartbeat"', `${where}: a heartbeat before ${recorded}`);
          let expected = recorded;
          const uuid = recorded.match(/^\{"(Challenge|Connection)":"(.*)"\}$/);
          if (uuid) {
            const got = ours.match(/^\{"(Challenge|Connection)":"(.*)"\}$/);
            assert.ok(got && got[1] === uuid[1], `${where}: expected ${recorded}, got ${ours}`);
            assert.match(got[2]!, UUID, `${where}: UUIDs are lowercase and hyphenated`);
            ids.set(uuid[2]!, got[2]!);
            expected = recorded.replace(uuid[2]!, got[2]!);
            if (uuid[1] === 'Challenge') challenge = { recorded: uuid[2]!, ours: got[2]! };
            if (uuid[1] === 'Connection') publicUsers.set(got[2]!, pendingPublic!);
          }
          const hello = recorded.match(/^\{"Hello":(\d+)\}$/);
          if (hello) {
            publicPort = mapPort(Number(hello[1]));
            expected = `{"Hello":${publicPort}}`;
          }
          assert.equal(ours, expected, `${where}: message from our server`);
          lastFrame = ours;
          if (/^\{"(Hello|Connection)":/.test(ours)) {
            // A heartbeat follows Hello and every Connection immediately: well before the
            // next interval heartbeat (500 ms) could stand in for it.
            assert.equal(await control.frame(250), '"Heartbeat"', `${where}: heartbeat right after ${ours}`);
            lastFrame = '"Heartbeat"';
            if (ours.startsWith('{"Hello":')) {
              tunnelOpen = true;
              heartbeatWatch ??= control;
            }
          }
        }
      }
      if (lastFrame?.startsWith('{"Error":')) {
        // The Rust server closes right after an Error, with nothing more.
        await control.end();
        assert.equal(control.buffered.length, 0, `${where}: bytes after the Error`);
      }
    }

    if (heartbeatWatch) {
      // Heartbeats keep coming, at least every 500 ms: three within 2 s of each other.
      while (heartbeatWatch.buffered.includes(0)) assert.equal(await heartbeatWatch.frame(), '"Heartbeat"');
      assert.equal(await heartbeatWatch.frame(), '"Heartbeat"'); // a fresh start, just after a heartbeat
      const start = performance.now();
      for (let k = 0; k < 3; k++) assert.equal(await heartbeatWatch.frame(2000), '"Heartbeat"');
      const elapsed = performance.now() - start;
      assert.ok(elapsed < 2000, `three heartbeats took ${elapsed.toFixed(0)} ms (expected about 1500)`);
    }
  } finally {
    for (const s of opened) s.destroy();
    await server.close(0);
  }
}

for (const t of transcripts) {
  test(`our server against the recorded Rust client: ${t.scenario}`, { timeout: 30_000 }, () => replayClientSide(t));
}

test('our server forwards raw bytes that arrive in the same read as Authenticate and Accept', { timeout: 30_000 }, async () => {
  // The auth session again, but the Rust client's data-connection frames and the first
  // tunneled bytes arrive in one segment (the server must forward what it read past Accept).
  const t = transcripts.find((x) => x.scenario === 'auth')!;
  const server = new BoreServer({
    controlPort: 0,
    bindAddr: '127.0.0.1',
    bindTunnels: '127.0.0.1',
    minPort: OUR_MIN,
    maxPort: OUR_MAX,
    secret: t.server_secret!,
  });
  const controlPort = await server.listen();
  const key = new Authenticator(t.client_secret!);
  const opened: net.Socket[] = [];
  const open = (port: number) => openReader(port, opened);
  const answer = async (r: ByteReader) => {
    const challenge = (await r.frame()).match(/^\{"Challenge":"(.*)"\}$/)![1]!;
    return `{"Authenticate":"${key.answer(challenge)}"}\0`;
  };
  try {
    const control = await open(controlPort);
    control.socket.write(`${await answer(control)}{"Hello":${mapPort(t.requested_port)}}\0`);
    assert.equal(await control.frame(), `{"Hello":${mapPort(t.requested_port)}}`);
    const user = await open(mapPort(t.requested_port));
    let frame = await control.frame();
    while (frame === '"Heartbeat"') frame = await control.frame();
    const id = frame.match(/^\{"Connection":"(.*)"\}$/)![1]!;
    const data = await open(controlPort);
    const payload = Buffer.concat([Buffer.from('ping\n'), Buffer.from([0, 1, 2, 0xff, 0])]);
    data.socket.write(Buffer.concat([Buffer.from(`${await answer(data)}{"Accept":"${id}"}\0`), payload]));
    assert.deepEqual(await user.read(payload.length), payload);
    user.socket.write('pong\n');
    assert.equal((await data.read(5)).toString(), 'pong\n');
  } finally {
    for (const s of opened) s.destroy();
    await server.close(0);
  }
});
