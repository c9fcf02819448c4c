/**
 * Several tunnels in one `bore` process, end to end with real processes: several
 * mappings on the command line, `bore up` with a config file and its reload on SIGHUP
 * while a transfer runs, and the exit code once every tunnel is gone. Waits on log
 * lines, never on sleeps.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientMachine } from '../machines/client.js';
import { type InspectorGraph, machineGraph } from '../src/inspector/graph.js';
import { BoreProcess, connect, httpGet, roundTrip, sha256, startEchoServer, startServer } from './helpers/procs.js';

const DIR = mkdtempSync(join(tmpdir(), 'bore-multi-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

/** Waits for `listening at 127.0.0.1:<port> tunnel=<name>` of each name, after `from`; resolves with the ports by name. */
async function listening(p: BoreProcess, names: string[], from = 0): Promise<Record<string, number>> {
  const ports: Record<string, number> = {};
  for (const name of names) {
    const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const m = await p.waitFor(new RegExp(`listening at 127\\.0\\.0\\.1:(\\d+) tunnel=${escaped} `), 10_000, from);
    ports[name] = Number(m[1]);
  }
  return ports;
}

async function echoes(port: number, size = 32 * 1024): Promise<void> {
  const data = randomBytes(size);
  assert.equal(sha256(await roundTrip(await connect(port), data)), sha256(data));
}

test('bore local with several mappings: one process, a tunnel each, the name on every line', { timeout: 30_000 }, async (t) => {
  const server = await startServer([
    '--bind-addr',
    '127.0.0.1',
    '--bind-tunnels',
    '127.0.0.1',
    // A wide range: the tunnel without a remote port gets a random one, which must not be the other's.
    '--min-port',
    '28000',
    '--max-port',
    '28999',
  ]);
  t.after(() => server.stop());
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const a = `${echo.port}`;
  const b = `${echo.port}:28500`;
  const local = new BoreProcess([
    'local',
    a,
    b,
    '--local-host',
    '127.0.0.1',
    '--to',
    '127.0.0.1',
    '--control-port',
    String(server.controlPort),
  ]);
  t.after(() => local.stop('SIGKILL'));
  const ports = await listening(local, [a, b]);
  assert.equal(ports[b], 28500);
  await local.waitFor(/all 2 tunnels listening/);
  for (const port of Object.values(ports)) await echoes(port);
  assert.equal(await local.stop('SIGTERM'), 0);
  for (const line of local.output.trim().split('\n')) {
    if (/listening at|stopped|connecting|connection/.test(line)) assert.match(line, / tunnel=\S+/, line);
  }

  // In JSON, every line of a tunnel (all have a state) carries its name, debug lines too.
  const json = new BoreProcess([
    'local',
    a,
    '--local-host',
    '127.0.0.1',
    '--to',
    '127.0.0.1',
    '--control-port',
    String(server.controlPort),
    `${echo.port}:28501`,
    '--log-format',
    'json',
    '--log-level',
    'debug',
  ]);
  t.after(() => json.stop('SIGKILL'));
  await json.waitFor(/all 2 tunnels listening/);
  await echoes(28501);
  assert.equal(await json.stop('SIGTERM'), 0);
  const lines = json.output
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const ofTunnels = lines.filter((l) => l.state !== undefined || /listening at|draining|connection/.test(String(l.message)));
  assert.ok(ofTunnels.length >= 6, json.output);
  for (const l of ofTunnels) assert.ok(l.tunnel === a || l.tunnel === `${echo.port}:28501`, JSON.stringify(l));
});

test(
  'exit code once every tunnel is gone: 3 if all fatal, 4 if any gave up; one fatal leaves the others running',
  { timeout: 30_000 },
  async (t) => {
    const server = await startServer([
      '--bind-addr',
      '127.0.0.1',
      '--bind-tunnels',
      '127.0.0.1',
      '--min-port',
      '27100',
      '--max-port',
      '27199',
    ]);
    t.after(() => server.stop('SIGKILL'));
    const echo = await startEchoServer();
    t.after(() => echo.close());
    const args = ['--local-host', '127.0.0.1', '--to', '127.0.0.1', '--control-port', String(server.controlPort)];

    const allFatal = new BoreProcess(['local', '1:1000', '2:1001', ...args]);
    assert.equal(await allFatal.exited, 3, allFatal.output);
    assert.match(allFatal.output, /every tunnel has given up/);

    const mixed = new BoreProcess(['local', `${echo.port}`, `${echo.port}:1000`, '--no-reconnect', ...args]);
    t.after(() => mixed.stop('SIGKILL'));
    await mixed.waitFor(new RegExp(`tunnel ${echo.port}:1000 gave up; the others keep running`));
    const [port] = Object.values(await listening(mixed, [`${echo.port}`]));
    await echoes(port!);
    // The server goes: the last tunnel is lost and, with --no-reconnect, gives up too.
    await server.stop('SIGKILL');
    assert.equal(await mixed.exited, 4, mixed.output);
  },
);

test(
  'bore up: SIGHUP adds one and removes one of 20 while a transfer runs through an unchanged one; the other 18 keep their connections; a bad file changes nothing',
  { timeout: 60_000 },
  async (t) => {
    const server = await startServer([
      '--bind-addr',
      '127.0.0.1',
      '--bind-tunnels',
      '127.0.0.1',
      '--min-port',
      '27200',
      '--max-port',
      '27299',
      '--max-tunnels-per-addr',
      '0',
    ]);
    t.after(() => server.stop());
    const echo = await startEchoServer();
    t.after(() => echo.close());
    const config = join(DIR, 'reload.toml');
    const head = ['to = "127.0.0.1"', `control_port = ${server.controlPort}`, 'local_host = "127.0.0.1"', ''];
    const tunnel = (name: string, remote?: number) => [
      `[tunnels.${name}]`,
      `local_port = ${echo.port}`,
      ...(remote ? [`remote_port = ${remote}`] : []),
      '',
    ];
    const write = (names: string[]) => writeFileSync(config, [...head, ...names.flatMap((n) => tunnel(n))].join('\n'));
    const others = Array.from({ length: 18 }, (_, i) => `t${i}`);
    write(['keep', ...others, 'drop']);
    const up = new BoreProcess(['up', '--config', config]);
    t.after(() => up.stop('SIGKILL'));
    const ports = await listening(up, ['keep', ...others, 'drop']);

    // A connection open through each of the 18 others, one echo before the reload.
    const held = await Promise.all(
      others.map(async (name) => {
        const s = await connect(ports[name]!);
        let closed = false;
        s.on('close', () => (closed = true));
        const echoOnce = async (text: string) => {
          const got = new Promise<Buffer>((r) => s.once('data', r));
          s.write(text);
          return (await got).toString();
        };
        assert.equal(await echoOnce(`before ${name}`), `before ${name}`);
        return { name, s, echoOnce, closed: () => closed };
      }),
    );

    // A transfer through an unchanged tunnel, half sent and flowing before the reload.
    const data = randomBytes(8 * 1024 * 1024);
    const socket = await connect(ports.keep!);
    const chunks: Buffer[] = [];
    let received = 0;
    let flowing!: () => void;
    const started = new Promise<void>((r) => (flowing = r));
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      received += c.length;
      if (received > 0) flowing();
    });
    const ended = new Promise((r) => socket.once('end', r));
    socket.write(data.subarray(0, data.length / 2));
    await started;

    const mark = up.output.length;
    write(['keep', ...others, 'added']);
    up.proc.kill('SIGHUP');
    await up.waitFor(/reload: 1 added, 1 removed, 0 changed, 19 unchanged/, 10_000, mark);
    await up.waitFor(/stopped tunnel=drop/, 10_000, mark);
    const added = await listening(up, ['added'], mark);
    await echoes(added.added!);

    socket.end(data.subarray(data.length / 2));
    await ended;
    assert.equal(sha256(Buffer.concat(chunks)), sha256(data), 'the transfer through the unchanged tunnel is intact');
    const after = up.output.slice(mark);
    assert.doesNotMatch(after, /tunnel=(keep|t\d+) /, `the unchanged tunnels logged nothing:\n${after}`);
    for (const h of held) {
      assert.equal(h.closed(), false, `${h.name}: its connection was not dropped`);
      assert.equal(await h.echoOnce(`after ${h.name}`), `after ${h.name}`);
      h.s.destroy();
    }

    // A file that does not validate: rejected with file, line and key; the tunnels stay.
    const mark2 = up.output.length;
    writeFileSync(config, [...head, '[tunnels.keep]', 'local_port = 70000', ''].join('\n'));
    up.proc.kill('SIGHUP');
    await up.waitFor(
      /reload rejected, the running tunnels stay as they were: .*reload\.toml:6: tunnels\.keep\.local_port must be 1-65535, got 70000/,
      10_000,
      mark2,
    );
    await echoes(ports.keep!);
    await echoes(added.added!);
    assert.equal(await up.stop('SIGTERM'), 0);
  },
);

test('bore up --inspect: /snapshot returns the supervisor and every tunnel', { timeout: 30_000 }, async (t) => {
  const server = await startServer([
    '--bind-addr',
    '127.0.0.1',
    '--bind-tunnels',
    '127.0.0.1',
    '--min-port',
    '27300',
    '--max-port',
    '27399',
    '--secret',
    'not served',
  ]);
  t.after(() => server.stop());
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const config = join(DIR, 'inspect.toml');
  writeFileSync(
    config,
    [
      'to = "127.0.0.1"',
      `control_port = ${server.controlPort}`,
      'secret = "not served"',
      '',
      '[tunnels.web]',
      `local_port = ${echo.port}`,
      '',
      '[tunnels.api]',
      `local_port = ${echo.port}`,
      '',
    ].join('\n'),
  );
  const up = new BoreProcess(['up', '--config', config, '--inspect']);
  t.after(() => up.stop('SIGKILL'));
  const m = await up.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//);
  await up.waitFor(/all 2 tunnels listening/);
  // The snapshot is taken on the next turn of the event loop after the last change: ask until it shows both listening.
  type Snap = {
    value: unknown;
    context: Record<string, unknown>;
    children: Record<string, { value: unknown; context: Record<string, unknown> }>;
  };
  let snap: Snap;
  for (;;) {
    const r = await httpGet(Number(m[1]), '/snapshot');
    assert.equal(r.status, 200);
    snap = JSON.parse(r.body) as Snap;
    if (snap.context.aggregate === 'listening') break;
  }
  assert.equal(snap.value, 'running');
  assert.deepEqual(Object.keys(snap.children).sort(), ['api', 'web']);
  for (const child of Object.values(snap.children)) {
    assert.equal(Object.keys(child.value as object)[0], 'listening');
    assert.equal(child.context.runtime, undefined);
  }
  assert.doesNotMatch(JSON.stringify(snap), /not served/);
  // /graph: the supervisor's chart, and the client machine's that every tunnel runs.
  const graph = JSON.parse((await httpGet(Number(m[1]), '/graph')).body) as InspectorGraph;
  assert.equal(graph.id, 'supervisor');
  assert.deepEqual(graph.child, JSON.parse(JSON.stringify(machineGraph(clientMachine))));
  assert.equal(await up.stop('SIGTERM'), 0);
});
