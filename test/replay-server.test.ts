/**
 * The recorded Rust sessions (`wire/*.json`) replayed against our server: a scripted
 * peer plays the Rust client's recorded bytes to OUR server and checks that our server
 * answers with the recorded bytes. Only what is random is substituted: challenge and
 * connection UUIDs our server picks, the Authenticate tags that follow from them, and
 * the public ports (the recording used 20000-20100; our server here uses 21000-21100).
 * Our client against the recorded Rust server is `replay.test.ts`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { BoreServer } from '../src/server/server.js';
import { Authenticator } from '../src/protocol/auth.js';
import { ByteReader, type Transcript, loadTranscripts, openReader } from './helpers/replay.js';

const transcripts = loadTranscripts();

const RECORDED_MIN = 20000;
const RECORDED_MAX = 20100;
const OUR_MIN = 21000;
const OUR_MAX = 21100;

/** Maps a recorded public port into our range; ports outside the recorded range stay. */
function mapPort(port: number): number {
  return port >= RECORDED_MIN && port <= RECORDED_MAX ? port - RECORDED_MIN + OUR_MIN : port;
}

/** Our server on loopback, its public ports in our range, with the recording's secret if it had one. */
function ourServer(t: Transcript): BoreServer {
  const secret = t.server_secret ?? undefined;
  return new BoreServer({ controlPort: 0, bindAddr: '127.0.0.1', bindTunnels: '127.0.0.1', minPort: OUR_MIN, maxPort: OUR_MAX, secret });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function replayClientSide(t: Transcript): Promise<void> {
  const server = ourServer(t);
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
  const server = ourServer(t);
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
