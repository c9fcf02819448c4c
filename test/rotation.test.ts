/**
 * Rotating the secret with no tunnel ever down, between real processes: `bore server`
 * with a secret file it reads again on SIGHUP, `bore up` with 12 tunnels whose secret
 * file it reads again at each attempt, and the cool-down on (3 failures). The order of
 * docs/operations.md: the server learns the new secret, the clients switch, the server
 * forgets the old one; then a server restart makes every tunnel authenticate again.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoreProcess, connect, roundTrip, sha256, startEchoServer } from './helpers/procs.js';
import { freePort } from './helpers/held-sink.js';

const DIR = mkdtempSync(join(tmpdir(), 'bore-rotation-'));
after(() => rmSync(DIR, { recursive: true, force: true }));
const NAMES = Array.from({ length: 12 }, (_, i) => `t${i}`);

/** Ports of each tunnel from its `listening at` line written after `from`. */
async function listening(p: BoreProcess, from = 0): Promise<number[]> {
  const ports: number[] = [];
  for (const name of NAMES) {
    const m = await p.waitFor(new RegExp(`listening at 127\\.0\\.0\\.1:(\\d+) tunnel=${name} `), 20_000, from);
    ports.push(Number(m[1]));
  }
  return ports;
}

/** One visitor through each port (three each, so the pool's replacements join too); all must echo. */
async function everyTunnelServes(ports: number[], step: string): Promise<void> {
  for (let round = 0; round < 3; round++) {
    await Promise.all(
      ports.map(async (port) => {
        const data = randomBytes(4096);
        assert.equal(sha256(await roundTrip(await connect(port), data)), sha256(data), `${step}: port ${port}`);
      }),
    );
  }
}

test(
  'rotation: server first, then the clients, then the old secret goes; 12 tunnels never down, never refused',
  { timeout: 90_000 },
  async (t) => {
    const echo = await startEchoServer();
    t.after(() => echo.close());
    const serverSecrets = join(DIR, 'server.secret');
    const clientSecret = join(DIR, 'client.secret');
    writeFileSync(serverSecrets, 'old-rotation-secret\n');
    writeFileSync(clientSecret, 'old-rotation-secret\n');
    const controlPort = await freePort();
    const serverArgs = [
      'server',
      ...['--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1', '--control-port', String(controlPort)],
      ...['--min-port', '26600', '--max-port', '26699', '--secret-file', serverSecrets, '--max-auth-failures', '3'],
    ];
    let server = new BoreProcess(serverArgs);
    t.after(() => server.stop('SIGKILL'));
    await server.waitFor(/server listening/);
    const config = join(DIR, 'bore.toml');
    const tunnels = NAMES.flatMap((name) => [`[tunnels.${name}]`, `local_port = ${echo.port}`, '']);
    writeFileSync(
      config,
      [
        'to = "127.0.0.1"',
        `control_port = ${controlPort}`,
        'local_host = "127.0.0.1"',
        `secret_file = "${clientSecret}"`,
        'pool = 2',
        '',
        ...tunnels,
      ].join('\n'),
    );
    const up = new BoreProcess(['up', '--config', config]);
    t.after(() => up.stop('SIGKILL'));
    const ports = await listening(up);
    await everyTunnelServes(ports, 'before');

    // 1. The server accepts the new secret and the old.
    writeFileSync(serverSecrets, 'new-rotation-secret\nold-rotation-secret\n');
    let mark = server.output.length;
    server.proc.kill('SIGHUP');
    await server.waitFor(/secrets reloaded from .*: 2 secrets/, 10_000, mark);
    await everyTunnelServes(ports, 'server has both');

    // 2. The clients switch: each tunnel's next data connection (at most a second later)
    // reads the file and says so.
    writeFileSync(clientSecret, 'new-rotation-secret\n');
    const switched = () => up.output.split('secret file changed').length - 1;
    while (switched() < NAMES.length) await everyTunnelServes(ports, 'clients switching');

    // 3. The old secret goes: the tunnels that are up keep serving, with new data connections.
    writeFileSync(serverSecrets, 'new-rotation-secret\n');
    mark = server.output.length;
    server.proc.kill('SIGHUP');
    await server.waitFor(/secrets reloaded from .*: 1 secret\b/, 10_000, mark);
    await everyTunnelServes(ports, 'old secret removed');

    // A file that gives no secret on SIGHUP changes nothing, and says so.
    writeFileSync(serverSecrets, '\n');
    mark = server.output.length;
    server.proc.kill('SIGHUP');
    await server.waitFor(/SIGHUP: secret file '.*' is empty; the server keeps the secrets it had/, 10_000, mark);
    writeFileSync(serverSecrets, 'new-rotation-secret\n');

    // Every tunnel authenticates again: a restarted server, the same ports back.
    await server.stop();
    const upMark = up.output.length;
    server = new BoreProcess(serverArgs);
    await server.waitFor(/server listening/);
    assert.deepEqual(await listening(up, upMark), ports);
    await everyTunnelServes(ports, 'after the restart');

    assert.equal(up.proc.exitCode, null, 'bore up still running');
    assert.doesNotMatch(up.output, /invalid secret|state=fatal|gave up|ERROR/);
    assert.doesNotMatch(server.output, /invalid secret|too many failed handshakes/);
  },
);
