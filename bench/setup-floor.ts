/**
 * The floor of connection setup for bore's protocol shape on this machine: a bare
 * tunnel with the same steps and processes as bore (the server tells the client of a
 * public connection on a control connection; the client opens a new connection to the
 * server to claim it and one to the local service; the server then joins the two) but
 * no framing, JSON, state machine, logger, timeouts or auth: 4-byte ids on raw
 * sockets. Measures setup (connect + first echoed byte) directly, through the bare
 * tunnel and through bore, with the same load generator and service as `run.ts`.
 *
 * Usage: node --import tsx bench/setup-floor.ts [--count 500]
 * (the bare server and client are this file run with `--role server|client`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import net, { type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { proxy } from '../src/proxy.js';
import { startClient, startServer } from '../test/helpers/procs.js';
import { percentile } from './proc-stats.js';

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
  let nextId = 0;
  let control: Socket | undefined;
  const publicListener = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (conn) => {
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

/** Bare client: for every 4-byte id, claims it on a new data connection and joins it to the service. */
async function bareClient(controlPort: number, dataPort: number, localPort: number): Promise<void> {
  const control = net.connect({ port: controlPort, host: HOST, noDelay: true });
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
  const bare = startNode([fileURLToPath(import.meta.url), '--role', 'server']);
  const ports = await bare.next();
  const bareCli = startNode([
    fileURLToPath(import.meta.url),
    '--role',
    'client',
    '--control',
    String(ports.control),
    '--data',
    String(ports.data),
    '--local',
    String(direct),
  ]);
  await bareCli.next();
  const server = await startServer(['--min-port', '23000', '--max-port', '23999']);
  const client = await startClient(direct!, server.controlPort, ['--local-host', HOST]);
  try {
    const p50 = (xs: number[]) => Number(percentile(xs, 50).toFixed(3));
    const rows: Record<string, number[]> = { direct: [], bare: [], bore: [] };
    // Interleaved, three rounds, so a burst of load elsewhere hits all three alike.
    for (let round = 0; round < 3; round++) {
      rows.direct!.push(p50(await setupSamples(direct!, count)));
      rows.bare!.push(p50(await setupSamples(ports.public!, count)));
      rows.bore!.push(p50(await setupSamples(client.publicPort, count)));
    }
    const d = percentile(rows.direct!, 50);
    for (const [name, xs] of Object.entries(rows)) {
      const m = percentile(xs, 50);
      process.stdout.write(`${name.padEnd(7)} setup p50 ${m.toFixed(3)} ms (rounds ${xs.join(', ')}), ${(m / d).toFixed(2)}x direct\n`);
    }
  } finally {
    await Promise.all([client.stop(), server.stop()]);
    for (const p of [service, bare, bareCli]) p.child.kill();
  }
}

const role = arg('--role');
if (role === 'server') await bareServer();
else if (role === 'client') await bareClient(Number(arg('--control')), Number(arg('--data')), Number(arg('--local')));
else await main();
