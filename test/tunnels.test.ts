/**
 * `startTunnels`: several named tunnels in one process under the supervisor, against an
 * in-process server on loopback. Waits on the handles' promises and change streams,
 * never on sleeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BoreServer, type Logger, type TunnelsChange, startTunnels, tunnelsExitCode } from 'bore-ts';
import { connect, roundTrip, sha256, startEchoServer } from './helpers/procs.js';

/**
 * An in-process server on 127.0.0.1 with public ports `minPort` to `maxPort`. A tunnel
 * that asks for a fixed port shares the range with those given a random one: the wider
 * the range, the rarer the collision.
 */
async function startBore(t: { after(fn: () => unknown): void }, minPort: number, maxPort = minPort + 99) {
  const server = new BoreServer({ controlPort: 0, bindAddr: '127.0.0.1', bindTunnels: '127.0.0.1', minPort, maxPort });
  const controlPort = await server.listen();
  t.after(() => server.close(0));
  const echo = await startEchoServer();
  t.after(() => echo.close());
  return { server, controlPort, echo };
}

/** A logger that keeps every line with its fields. */
function recorder() {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (message: string, fields: Record<string, unknown> = {}) =>
      void lines.push({ level, message, fields });
  const logger: Logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
  return { lines, logger };
}

/** Resolves with the first change of `tunnels` that `predicate` accepts. */
function until(tunnels: { onChange(l: (c: TunnelsChange) => void): () => void }, predicate: (c: TunnelsChange) => boolean) {
  return new Promise<TunnelsChange>((resolve) => {
    let found: TunnelsChange | undefined;
    // The current change comes at once, before `off` is assigned: unsubscribe after.
    const off: () => void = tunnels.onChange((c) => {
      if (found || !predicate(c)) return;
      found = c;
      resolve(c);
      setImmediate(() => off());
    });
  });
}

test('several tunnels: each with its port and its name on every log line; stop drains and ends them all', async (t) => {
  const { controlPort, echo, server } = await startBore(t, 26000, 26999);
  const { lines, logger } = recorder();
  const tunnels = startTunnels({
    to: '127.0.0.1',
    controlPort,
    localHost: '127.0.0.1',
    logger,
    tunnels: { web: { localPort: echo.port }, api: { localPort: echo.port, port: 26500 }, db: { localPort: echo.port } },
  });
  t.after(() => tunnels.stop());
  const ports = await tunnels.ready;
  assert.deepEqual(Object.keys(ports).sort(), ['api', 'db', 'web']);
  assert.equal(ports.api, 26500);
  assert.equal(server.tunnelCount, 3);
  assert.deepEqual([...tunnels.tunnels.keys()].sort(), ['api', 'db', 'web']);
  assert.equal(tunnels.tunnels.get('web')!.publicPort, ports.web);
  assert.equal(await tunnels.tunnels.get('db')!.ready, ports.db);
  for (const port of Object.values(ports)) {
    const data = randomBytes(64 * 1024);
    assert.equal(sha256(await roundTrip(await connect(port), data)), sha256(data));
  }
  const tunnelLines = lines.filter((l) => l.message.startsWith('listening at') || l.message.startsWith('connecting'));
  assert.ok(tunnelLines.length >= 3);
  for (const line of tunnelLines) assert.ok(['web', 'api', 'db'].includes(line.fields.tunnel as string), JSON.stringify(line));
  assert.ok(lines.some((l) => l.message === 'all 3 tunnels listening'));

  const result = await tunnels.stop();
  assert.equal(result.state, 'stopped');
  assert.equal(result.exitCode, 0);
  assert.deepEqual(Object.keys(result.tunnels).sort(), ['api', 'db', 'web']);
  for (const r of Object.values(result.tunnels)) assert.equal(r.state, 'stopped');
  const stopped = lines.filter((l) => l.message === 'stopped').map((l) => l.fields.tunnel);
  assert.deepEqual(stopped.sort(), ['api', 'db', 'web']);
});

test('one tunnel fatal (port not allowed): reported, the others keep running; all fatal: gone, exit 3', async (t) => {
  const { controlPort, echo } = await startBore(t, 26200);
  const tunnels = startTunnels({
    to: '127.0.0.1',
    controlPort,
    localHost: '127.0.0.1',
    tunnels: { good: { localPort: echo.port }, bad: { localPort: echo.port, port: 1000 } },
  });
  t.after(() => tunnels.stop());
  await assert.rejects(tunnels.ready, /tunnel bad: .*port/);
  const degraded = await until(tunnels, (c) => c.state === 'degraded' && c.tunnels.good?.state === 'listening');
  assert.equal(degraded.tunnels.bad!.state, 'fatal');
  assert.equal(degraded.tunnels.bad!.lastError?.code, 'port-not-allowed');
  assert.equal((await tunnels.tunnels.get('bad')!.done).exitCode, 3);
  const port = degraded.tunnels.good!.publicPort!;
  assert.deepEqual(await roundTrip(await connect(port), Buffer.from('still here')), Buffer.from('still here'));
  assert.equal((await tunnels.stop()).exitCode, 0);

  const allBad = startTunnels({
    to: '127.0.0.1',
    controlPort,
    tunnels: { a: { localPort: 1, port: 1000 }, b: { localPort: 2, port: 1001 } },
  });
  const result = await allBad.done;
  assert.equal(result.state, 'gone');
  assert.equal(result.exitCode, 3);
});

test('reload: added start, removed stop, changed restart, unchanged keep their port and open connections', async (t) => {
  const { controlPort, echo, server } = await startBore(t, 26300);
  const other = await startEchoServer();
  t.after(() => other.close());
  const base = { to: '127.0.0.1', controlPort, localHost: '127.0.0.1' };
  const tunnels = startTunnels({
    ...base,
    // Fixed ports only: the restarted one asks for its port again, and no random pick can take it.
    tunnels: {
      keep: { localPort: echo.port, port: 26301 },
      drop: { localPort: echo.port, port: 26302 },
      change: { localPort: echo.port, port: 26350 },
    },
  });
  t.after(() => tunnels.stop());
  const ports = await tunnels.ready;
  const keep = tunnels.tunnels.get('keep')!;
  const drop = tunnels.tunnels.get('drop')!;
  const change = tunnels.tunnels.get('change')!;
  // A transfer in flight through the unchanged tunnel: half sent before the reload.
  const socket = await connect(ports.keep!);
  const data = randomBytes(1024 * 1024);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise((r) => socket.once('end', r));
  socket.write(data.subarray(0, data.length / 2));

  assert.throws(
    () => tunnels.reload({ ...base, tunnels: { keep: { localPort: 70000 } } }),
    /tunnels\.keep\.localPort must be 1-65535, got 70000/,
  );
  const diff = tunnels.reload({
    ...base,
    tunnels: {
      keep: { localPort: echo.port, port: 26301 },
      change: { localPort: other.port, port: 26350 },
      added: { localPort: echo.port, port: 26303 },
    },
  });
  assert.deepEqual(diff, { added: ['added'], removed: ['drop'], changed: ['change'], unchanged: ['keep'] });
  assert.equal((await drop.done).state, 'stopped');
  assert.equal((await change.done).state, 'stopped');
  const after = await until(tunnels, (c) => c.state === 'listening' && Object.keys(c.tunnels).length === 3);
  assert.deepEqual(Object.keys(after.tunnels).sort(), ['added', 'change', 'keep']);
  assert.equal(after.tunnels.keep!.publicPort, ports.keep, 'unchanged: same port');
  assert.equal(after.tunnels.change!.publicPort, 26350, 'changed: its port again');
  assert.equal(tunnels.tunnels.get('keep'), keep, 'unchanged: the same handle');
  assert.notEqual(tunnels.tunnels.get('change'), change);
  assert.equal(tunnels.tunnels.has('drop'), false);
  assert.equal(keep.actor.getSnapshot().context.reconnects, 0, 'no reconnect of the unchanged one');
  assert.equal(server.tunnelCount, 3);

  socket.end(data.subarray(data.length / 2));
  await ended;
  assert.equal(sha256(Buffer.concat(chunks)), sha256(data), 'the transfer through the unchanged tunnel is intact');
  assert.equal((await tunnels.stop()).exitCode, 0);
});

test('options are checked at the call, naming the tunnel', () => {
  assert.throws(() => startTunnels({ to: 'x', tunnels: {} }), /tunnels must name at least one tunnel/);
  assert.throws(() => startTunnels({ tunnels: { web: { localPort: 1 } } }), /tunnels\.web\.to is required/);
  assert.throws(() => startTunnels({ to: 'x', tunnels: { web: { localPort: 0 } } }), /tunnels\.web\.localPort must be 1-65535, got 0/);
  assert.throws(
    () => startTunnels({ to: 'x', tunnels: { web: { localPort: 1, lcoalHost: 'x' } as never } }),
    /unknown option tunnels\.web\.lcoalHost/,
  );
});

test('the exit code of a set that ended', () => {
  const fatal = { state: 'fatal' as const, exitCode: 3 };
  const gaveUp = { state: 'fatal' as const, exitCode: 4 };
  assert.equal(tunnelsExitCode('stopped', [fatal]), 0);
  assert.equal(tunnelsExitCode('gone', [fatal, fatal]), 3);
  assert.equal(tunnelsExitCode('gone', [fatal, gaveUp]), 4);
  assert.equal(tunnelsExitCode('gone', [fatal, { state: 'stopped', exitCode: 0 }]), 3);
  assert.equal(tunnelsExitCode('gone', [{ state: 'stopped', exitCode: 0 }]), 0, 'each stopped through its own handle');
});
