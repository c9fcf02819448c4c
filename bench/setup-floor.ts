/**
 * The floor of connection setup for bore's protocol shape on this machine: a bare
 * tunnel with the same steps and processes as bore (the server tells the client of a
 * public connection on a control connection; the client opens a new connection to the
 * server to claim it and one to the local service; the server then joins the two) but
 * no framing, JSON, state machine, logger, timeouts or auth: 4-byte ids on raw
 * sockets. The same bare tunnel with a warm pool (issue 12): the client keeps 4 idle
 * data connections (id 0xffffffff), the server hands a public connection to one with a
 * 1-byte signal, and the client then connects the service and opens a replacement.
 * And a bare multiplexed tunnel (the shape of frp or rathole): one long-lived
 * connection between server and client carries every public connection as frames
 * (`id`, `length`, bytes; length 0 opens or closes), so a new public connection costs
 * no TCP connection between them at all. Measures setup (connect + first echoed byte)
 * directly, through the three bare tunnels and through bore with the pool off and on
 * and multiplexed (`--mux-first`),
 * with the same load generator and service as `run.ts`, and the CPU each shape's two
 * processes spend per 1,000 connections (server + client, from /proc/<pid>/stat), and
 * one stream's throughput through each (256 MB to the sink, two runs).
 *
 * A warm-up round of `--warm` (10,000) connections per shape is run and not counted (V8
 * keeps optimizing a path over thousands of connections: bore's CPU per connection fell
 * by some 40 % over its first 12,000 here, the bare relays' by a third; a warm-up of one
 * round compared bore still warming with floors nearly warm), then `--rounds`
 * (3) counted ones; each shape of bore is
 * also given as the median of its per-round ratio to its bare floor (paired within a
 * round, so load that comes and goes cancels). `--no-stream` skips the throughput runs.
 * `--per-process` prints each round's CPU per 1,000 connections of server and client apart.
 * `--burst N` adds N visitors at once through each shape, each echoing 10 x 1 KiB (two
 * rounds; wall time and failures, and bore's against its floors per round), and the
 * resident memory of the shape's two processes (server + client) while they are open.
 *
 * Usage: node --import tsx bench/setup-floor.ts [--count 500] [--rounds 3] [--warm 10000] [--no-stream] [--burst 1000] [--per-process] (after `npm run build`)
 * (the bare server and client are this file run with `--role server|client`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import net, { type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { proxy } from '../src/net/proxy.js';
import { startClient, startServer } from '../test/helpers/procs.js';
import { cpuMs, percentile, rssMb } from './proc-stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const HOST = '127.0.0.1';
const argv = process.argv.slice(2);
const arg = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);

function listen(server: net.Server): Promise<number> {
  server.listen({ port: 0, host: HOST, backlog: 4096 });
  return once(server, 'listening').then(() => (server.address() as net.AddressInfo).port);
}

/** Bare server: control and data listeners, one public listener; prints its ports. */
async function bareServer(): Promise<void> {
  const pending = new Map<number, Socket>();
  const idle: Socket[] = [];
  let nextId = 0;
  let control: Socket | undefined;
  const publicListener = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (conn) => {
    const pooled = idle.pop();
    if (pooled) {
      pooled.write(SIGNAL);
      void proxy(pooled, conn);
      return;
    }
    const id = nextId++;
    pending.set(id, conn);
    const msg = Buffer.allocUnsafe(4);
    msg.writeUInt32BE(id);
    control?.write(msg);
  });
  const dataListener = net.createServer({ allowHalfOpen: true, noDelay: true }, (data) => {
    data.once('readable', function claim() {
      const idBytes = data.read(4) as Buffer | null;
      if (!idBytes) return void data.once('readable', claim);
      if (idBytes.readUInt32BE() === POOL_ID) return void idle.push(data);
      const conn = pending.get(idBytes.readUInt32BE());
      if (!conn) return void data.destroy();
      pending.delete(idBytes.readUInt32BE());
      void proxy(data, conn);
    });
  });
  const controlListener = net.createServer({ noDelay: true }, (socket) => (control = socket));
  const ports = { control: await listen(controlListener), data: await listen(dataListener), public: await listen(publicListener) };
  process.stdout.write(`${JSON.stringify(ports)}\n`);
}

const POOL_ID = 0xffffffff;
const SIGNAL = Buffer.from([1]);

/** Bare client: for every 4-byte id, claims it on a new data connection and joins it to the service. */
async function bareClient(controlPort: number, dataPort: number, localPort: number, pool: number): Promise<void> {
  const control = net.connect({ port: controlPort, host: HOST, noDelay: true });
  const join = () => {
    const remote = net.connect({ port: dataPort, host: HOST, allowHalfOpen: true, noDelay: true });
    const id = Buffer.alloc(4);
    id.writeUInt32BE(POOL_ID);
    remote.write(id);
    remote.once('readable', function signal() {
      if (!remote.read(1)) return void remote.once('readable', signal);
      const local = net.connect({ port: localPort, host: HOST, allowHalfOpen: true, noDelay: true });
      local.once('connect', () => {
        void proxy(remote, local);
        setImmediate(join);
      });
    });
  };
  for (let i = 0; i < pool; i++) join();
  let buffered = Buffer.alloc(0);
  control.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (; buffered.length >= 4; buffered = buffered.subarray(4)) {
      const id = buffered.subarray(0, 4);
      const remote = net.connect({ port: dataPort, host: HOST, allowHalfOpen: true, noDelay: true });
      const local = net.connect({ port: localPort, host: HOST, allowHalfOpen: true, noDelay: true });
      remote.write(Buffer.from(id));
      Promise.all([once(remote, 'connect'), once(local, 'connect')]).then(
        () => proxy(remote, local),
        () => (remote.destroy(), local.destroy()),
      );
    }
  });
  await once(control, 'connect');
  process.stdout.write('{"ready":true}\n');
}

function startNode(args: string[]): { child: ChildProcess; next: () => Promise<Record<string, number>> } {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return { child, next: async () => JSON.parse(((await lines.next()).value as string | undefined) ?? 'null') as Record<string, number> };
}

async function setupSamples(port: number, count: number): Promise<number[]> {
  const job = startNode([join(HERE, 'loadgen.ts'), JSON.stringify({ kind: 'setup', port, count })]);
  const { samples } = (await job.next()) as unknown as { samples: number[] };
  job.child.kill();
  return samples;
}

async function main(): Promise<void> {
  const count = Number(arg('--count') ?? 500);
  const service = startNode([join(HERE, 'services.ts')]);
  const { port: direct } = await service.next();
  const bareTunnel = async (pool: number) => {
    const server = startNode([fileURLToPath(import.meta.url), '--role', 'server']);
    const ports = await server.next();
    const client = startNode([
      fileURLToPath(import.meta.url),
      '--role',
      'client',
      '--control',
      String(ports.control),
      '--data',
      String(ports.data),
      '--local',
      String(direct),
      '--pool',
      String(pool),
    ]);
    await client.next();
    return { port: ports.public!, procs: [server, client] };
  };
  const bare = await bareTunnel(0);
  const barePool = await bareTunnel(4);
  const muxServerProc = startNode([fileURLToPath(import.meta.url), '--role', 'mux-server']);
  const muxPorts = await muxServerProc.next();
  const muxClientProc = startNode([
    fileURLToPath(import.meta.url),
    '--role',
    'mux-client',
    '--control',
    String(muxPorts.control),
    '--local',
    String(direct),
  ]);
  await muxClientProc.next();
  // A server of its own for each shape of bore, as each bare shape has: CPU and memory per shape.
  const [server, serverPool, serverMux] = await Promise.all(
    ['23000', '24000', '25000'].map((min) => startServer(['--min-port', min, '--max-port', String(Number(min) + 999)])),
  );
  const client = await startClient(direct!, server!.controlPort, ['--local-host', HOST, '--pool', '0']);
  const pooled = await startClient(direct!, serverPool!.controlPort, ['--local-host', HOST, '--pool', '4']);
  const muxed = await startClient(direct!, serverMux!.controlPort, [
    '--local-host',
    HOST,
    '--pool',
    '1',
    '--mux-first',
    '--log-level',
    'debug',
  ]);
  await muxed.waitFor(/multiplexed connection ready/);
  try {
    const p50 = (xs: number[]) => Number(percentile(xs, 50).toFixed(3));
    const pids = (...procs: { pid?: number }[]) => procs.map((p) => p.pid!);
    const targets: Record<string, { port: number; pids: number[] }> = {
      direct: { port: direct!, pids: [] },
      bare: { port: bare.port, pids: pids(...bare.procs.map((p) => p.child)) },
      'bare+pool': { port: barePool.port, pids: pids(...barePool.procs.map((p) => p.child)) },
      'bare mux': { port: muxPorts.public!, pids: pids(muxServerProc.child, muxClientProc.child) },
      bore: { port: client.publicPort, pids: pids(server!.proc, client.proc) },
      'bore+pool': { port: pooled.publicPort, pids: pids(serverPool!.proc, pooled.proc) },
      'bore mux-first': { port: muxed.publicPort, pids: pids(serverMux!.proc, muxed.proc) },
    };
    const rows: Record<string, number[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    const cpuOf = (list: number[]) => list.map((pid) => cpuMs(pid));
    // Interleaved rounds, so a burst of load elsewhere hits all alike; the first is a warm-up.
    const rounds = Number(arg('--rounds') ?? 3);
    const warm = Number(arg('--warm') ?? 10_000);
    for (let round = 0; round <= rounds; round++) {
      const n = round === 0 ? warm : count;
      for (const [name, { port, pids: list }] of Object.entries(targets)) {
        const before = cpuOf(list);
        const setup = p50(await setupSamples(port, n));
        const spent = cpuOf(list).map((ms, i) => ((ms - before[i]!) * 1000) / n);
        if (argv.includes('--per-process') && list.length === 2) {
          const [server, client] = spent.map(Math.round);
          process.stdout.write(`${name}, round ${round}${round ? '' : ' (warm-up)'}: server ${server} / client ${client} ms per 1,000\n`);
        }
        if (round === 0) continue;
        rows[name]!.push(setup);
        cpu[name]!.push(Math.round(spent.reduce((a, b) => a + b, 0)));
      }
    }
    // What the shape costs where bytes move: 256 MB one way to the sink, once each, interleaved over two rounds.
    const mbps: Record<string, number[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    for (let round = 0; round < (argv.includes('--no-stream') ? 0 : 2); round++) {
      for (const [name, { port }] of Object.entries(targets)) {
        const job = startNode([join(HERE, 'loadgen.ts'), JSON.stringify({ kind: 'throughput', port, bytes: 256e6 })]);
        mbps[name]!.push(Math.round(((await job.next()) as unknown as { mbps: number }).mbps));
        job.child.kill();
      }
    }
    // `--burst N`: N visitors at once, each echoing 10 x 1 KiB, through each shape; wall
    // time and failures, two rounds interleaved (the issue's "1,000-burst" row).
    const burst = Number(arg('--burst') ?? 0);
    const bursts: Record<string, string[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    const burstMs: Record<string, number[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    for (let round = 0; burst > 0 && round < 2; round++) {
      for (const [name, { port }] of Object.entries(targets)) {
        const job = startNode([
          join(HERE, 'loadgen.ts'),
          JSON.stringify({ kind: 'concurrency', port, conns: burst, messages: 10, size: 1024, timeoutMs: 60_000 }),
        ]);
        const r = (await job.next()) as unknown as { ms: number; failures: number };
        // The generator holds the connections open now: the shape's resident memory with them (server + client).
        const rss = targets[name]!.pids.map((pid) => rssMb(pid).toFixed(1)).join(' + ');
        job.child.kill();
        burstMs[name]!.push(Math.round(r.ms));
        bursts[name]!.push(`${Math.round(r.ms)} ms${r.failures ? ` (${r.failures} failed)` : ''}${rss ? `, RSS ${rss} MB` : ''}`);
      }
    }
    for (const [name, xs] of Object.entries(bursts)) {
      if (xs.length > 0) process.stdout.write(`${name.padEnd(10)} ${burst} at once x 10 x 1 KiB: ${xs.join(', ')}\n`);
    }
    for (const [name, floor] of burst > 0
      ? [
          ['bore+pool', 'bare+pool'],
          ['bore+pool', 'bare'],
          ['bore mux-first', 'bare mux'],
        ]
      : []) {
      const ratios = burstMs[name!]!.map((x, i) => (x / burstMs[floor!]![i]!).toFixed(2));
      process.stdout.write(`${name} / ${floor}, burst wall time per round: ${ratios.join(', ')}x\n`);
    }
    const d = percentile(rows.direct!, 50);
    for (const [name, xs] of Object.entries(rows)) {
      const m = percentile(xs, 50);
      const perK =
        name === 'direct'
          ? ''
          : `; CPU per 1,000 connections, server + client: ${percentile(cpu[name]!, 50)} ms (rounds ${cpu[name]!.join(', ')})`;
      process.stdout.write(
        `${name.padEnd(10)} setup p50 ${m.toFixed(3)} ms (rounds ${xs.join(', ')}), ${(m / d).toFixed(2)}x direct${perK}${mbps[name]!.length ? `; one stream ${mbps[name]!.join(', ')} MB/s` : ''}\n`,
      );
    }
    const floors: Record<string, string> = { bore: 'bare', 'bore+pool': 'bare+pool', 'bore mux-first': 'bare mux' };
    for (const [name, floor] of Object.entries(floors)) {
      const paired = (of: Record<string, number[]>) =>
        percentile(
          of[name]!.map((x, i) => x / of[floor]![i]!),
          50,
        ).toFixed(2);
      process.stdout.write(
        `${name} / ${floor}, median of per-round ratios: CPU per connection ${paired(cpu)}x, setup p50 ${paired(rows)}x\n`,
      );
    }
  } finally {
    await Promise.all([client.stop(), pooled.stop(), muxed.stop(), server!.stop(), serverPool!.stop(), serverMux!.stop()]);
    for (const p of [service, ...bare.procs, ...barePool.procs, muxServerProc, muxClientProc]) p.child.kill();
  }
}

/** Length field of a frame that half-closes its stream (EOF one way). */
const MUX_END = 0xffffffff;

/** Writes one mux frame: id, length, payload (length 0: open or close; {@link MUX_END}: EOF). */
function muxFrame(id: number, payload?: Buffer, end = false): Buffer {
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32BE(id, 0);
  head.writeUInt32BE(end ? MUX_END : (payload?.length ?? 0), 4);
  return payload ? Buffer.concat([head, payload]) : head;
}

/** Calls `onFrame` for every mux frame read from `socket` (`onEnd` for an EOF frame). */
function readFrames(socket: Socket, onFrame: (id: number, payload: Buffer) => void, onEnd: (id: number) => void): void {
  let buffered: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    while (buffered.length >= 8) {
      if (buffered.readUInt32BE(4) === MUX_END) {
        onEnd(buffered.readUInt32BE(0));
        buffered = buffered.subarray(8);
        continue;
      }
      const length = buffered.readUInt32BE(4);
      if (buffered.length < 8 + length) break;
      onFrame(buffered.readUInt32BE(0), buffered.subarray(8, 8 + length));
      buffered = buffered.subarray(8 + length);
    }
  });
}

/** Bare mux server: one public listener, every public connection a stream on the one mux connection. */
async function muxServer(): Promise<void> {
  const streams = new Map<number, Socket>();
  let mux: Socket | undefined;
  let nextId = 1;
  const publicListener = net.createServer({ noDelay: true, allowHalfOpen: true }, (conn) => {
    const id = nextId++;
    streams.set(id, conn);
    mux?.write(muxFrame(id));
    conn.on('data', (chunk: Buffer) => mux?.write(muxFrame(id, chunk)));
    conn.on('end', () => mux?.write(muxFrame(id, undefined, true)));
    conn.on('close', () => {
      if (streams.delete(id)) mux?.write(muxFrame(id));
    });
    conn.on('error', () => {});
  });
  const muxListener = net.createServer({ noDelay: true }, (socket) => {
    mux = socket;
    readFrames(
      socket,
      (id, payload) => {
        const conn = streams.get(id);
        if (!conn) return;
        if (payload.length) conn.write(payload);
        else {
          streams.delete(id);
          conn.destroy();
        }
      },
      (id) => streams.get(id)?.end(),
    );
  });
  const ports = { control: await listen(muxListener), data: 0, public: await listen(publicListener) };
  process.stdout.write(`${JSON.stringify(ports)}\n`);
}

/** Bare mux client: a stream's first frame connects the service; bytes go both ways as frames. */
async function muxClient(muxPort: number, localPort: number): Promise<void> {
  const mux = net.connect({ port: muxPort, host: HOST, noDelay: true });
  const streams = new Map<number, Socket>();
  readFrames(
    mux,
    (id, payload) => onFrame(id, payload),
    (id) => streams.get(id)?.end(),
  );
  function onFrame(id: number, payload: Buffer): void {
    const local = streams.get(id);
    if (!local) {
      if (payload.length) return;
      const conn = net.connect({ port: localPort, host: HOST, noDelay: true, allowHalfOpen: true });
      streams.set(id, conn);
      conn.on('data', (chunk: Buffer) => mux.write(muxFrame(id, chunk)));
      conn.on('end', () => mux.write(muxFrame(id, undefined, true)));
      conn.on('close', () => {
        if (streams.delete(id)) mux.write(muxFrame(id));
      });
      conn.on('error', () => {});
    } else if (payload.length) local.write(payload);
    else {
      streams.delete(id);
      local.destroy();
    }
  }
  await once(mux, 'connect');
  process.stdout.write('{"ready":true}\n');
}

const role = arg('--role');
if (role === 'server') await bareServer();
else if (role === 'mux-server') await muxServer();
else if (role === 'mux-client') await muxClient(Number(arg('--control')), Number(arg('--local')));
else if (role === 'client')
  await bareClient(Number(arg('--control')), Number(arg('--data')), Number(arg('--local')), Number(arg('--pool') ?? 0));
else await main();
